#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A FIFO of bytes: appended at the back, read from the front, storage reused.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    mutating func read(into destination: UnsafeMutableRawPointer, maximum: Int) -> Int {
        let n = min(maximum, count)
        guard n > 0 else { return 0 }
        storage.withUnsafeBytes { _ = memcpy(destination, $0.baseAddress! + start, n) }
        start += n
        if start == storage.count {
            // An empty queue keeps at most 4 KiB: an idle connection holds no record-sized
            // buffers (it has two queues), and bulk transfers pay one allocation per drain.
            storage.removeAll(keepingCapacity: storage.capacity <= 4_096)
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
