import Dispatch
import Foundation
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// `tlskit serve` on SIGHUP: reads --cert, --key and --sni-cert again and swaps them into
/// the running server context. New connections get the new chains; open ones keep theirs.
/// A reload that fails (a file missing, a key that does not match) changes nothing.
enum Reloader {
    /// The signal source, kept for the life of the process.
    nonisolated(unsafe) private static var source: (any DispatchSourceSignal)?

    static func watch(_ context: any TLSServerContext, describedBy serve: Serve) {
        signal(SIGHUP, SIG_IGN)  // delivered to the source instead of ending the process
        let queue = DispatchQueue(label: "tlskit.reload")
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        source.setEventHandler {
            do {
                let chains = try serve.chains()
                try context.replaceCertificateChains(chains)
                printFlushed("reloaded \(chains.count) certificate chain(s) on SIGHUP")
            } catch {
                FileHandle.standardError.write(Data("tlskit: reload on SIGHUP failed, still serving the previous certificates: \(error)\n".utf8))
            }
        }
        source.resume()
        Self.source = source
    }
}
