#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A FIFO of bytes: appended at the back, read from the front; an empty queue holds no
/// storage.
///
/// Loans save a copy each way (the twin of the OpenSSL pipe's, `CTLSKitOpenSSLPipe.h`):
/// - input: ``lend(_:)`` puts the caller's bytes behind the stored ones, read in place;
///   ``settle()`` copies what was not read into storage and ends the loan;
/// - output: ``lendSpace(_:)`` makes appends land in the caller's buffer while storage is
///   empty (what does not fit is stored after them); ``settleSpace()`` ends the loan and says
///   how many bytes landed there.
/// The caller keeps lent memory valid until it settles.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var start = 0
    private var lent: UnsafeRawBufferPointer?
    private var space: UnsafeMutableRawBufferPointer?
    private var spaceUsed = 0

    /// Bytes queued: stored, then lent.
    var count: Int { storage.count - start + (lent?.count ?? 0) }
    /// The bytes of storage held (0 when empty).
    var capacity: Int { storage.capacity }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if lent != nil { settle() }  // new bytes come after the lent ones
        var bytes = bytes
        if let space, storage.count == start, spaceUsed < space.count, let base = bytes.baseAddress {
            let n = min(bytes.count, space.count - spaceUsed)
            _ = memcpy(space.baseAddress! + spaceUsed, base, n)
            spaceUsed += n
            bytes = UnsafeRawBufferPointer(rebasing: bytes[n...])
        }
        storage.append(contentsOf: bytes)
    }

    mutating func read(into destination: UnsafeMutableRawPointer, maximum: Int) -> Int {
        let stored = min(maximum, storage.count - start)
        if stored > 0 {
            storage.withUnsafeBytes { _ = memcpy(destination, $0.baseAddress! + start, stored) }
            start += stored
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
        }
        guard let lent, stored < maximum, !lent.isEmpty else { return stored }
        let n = min(maximum - stored, lent.count)
        _ = memcpy(destination + stored, lent.baseAddress!, n)
        self.lent = UnsafeRawBufferPointer(rebasing: lent[n...])
        return stored + n
    }

    /// Lends `bytes` as the queue's tail (settling an earlier loan first).
    mutating func lend(_ bytes: UnsafeRawBufferPointer) {
        if lent != nil { settle() }
        lent = bytes
    }

    /// Copies the unread lent bytes into storage; ends the loan.
    mutating func settle() {
        guard let rest = lent else { return }
        lent = nil
        storage.append(contentsOf: rest)
    }

    /// Lends `buffer` for appends while storage is empty; false (nothing lent) during another loan.
    mutating func lendSpace(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard space == nil, buffer.baseAddress != nil else { return false }
        space = buffer
        spaceUsed = 0
        return true
    }

    /// Ends the space loan; the bytes appended into it (they come before anything stored).
    mutating func settleSpace() -> Int {
        defer {
            space = nil
            spaceUsed = 0
        }
        return spaceUsed
    }
}
