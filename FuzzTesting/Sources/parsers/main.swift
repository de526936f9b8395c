// The parsers fuzz target (FuzzCore says what it does and checks).
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Parsers.run(data, size)
}

@_cdecl("parsers_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main("parsers", argc, argv) { data, size in fuzzOne(data, size) }
}
