#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A FIFO of bytes: appended at the back, read from the front; an empty queue holds no
/// storage.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }
    /// The bytes of storage held (0 when empty).
    var capacity: Int { storage.capacity }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    mutating func read(into destination: UnsafeMutableRawPointer, maximum: Int) -> Int {
        let n = min(maximum, count)
        guard n > 0 else { return 0 }
        storage.withUnsafeBytes { _ = memcpy(destination, $0.baseAddress! + start, n) }
        start += n
        if start == storage.count {
            // An empty queue frees its storage: an idle connection (two queues) then holds no
            // buffer at all. Keeping up to 4 KiB cost 1.6 KB per idle server connection, a
            // twelfth of its memory (heaptrack, Benchmarks/results/side-by-side.md); the price
            // is one small allocation per record, cheap beside the record's cipher work.
            storage = []
            start = 0
        } else if start > 65_536 && start >= storage.count - start {
            // Compact only once the consumed front is at least as large as what is left, so
            // each byte is moved a bounded number of times (amortised linear). Compacting at a
            // fixed offset moved the whole remaining queue every 64 KiB: quadratic in its size.
            storage.removeFirst(start)
            start = 0
        }
        return n
    }
}
