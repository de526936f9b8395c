import CFuzzDriver

/// The entry point every target shares. SwiftPM links each executable's `main` to
/// `<target>_main`, so libFuzzer's own `main` never runs: the target's `<target>_main` calls
/// this, which records the seed corpus if asked (`TLSKIT_FUZZ_RECORD_SEEDS`) and then hands
/// over to libFuzzer with `test` as the function under test.
public enum FuzzDriver {
    public static func main(
        _ target: String, _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt {
        Seeds.recordIfAsked(target)
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments, test)
    }
}
