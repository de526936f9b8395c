import ArgumentParser
import TLSKit

struct Backends: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the backends compiled in, with versions and capabilities.")

    func run() throws {
        do {
            let backends = try CLI.allBackends()
            for backend in backends {
                let caps = backend.capabilities
                printFlushed("\(backend.name): \(backend.libraryVersion)")
                printFlushed("  versions    \(caps.versions.sorted().map(\.description).joined(separator: ", "))")
                printFlushed("  features    \(caps.features.map(\.rawValue).sorted().joined(separator: ", "))")
                printFlushed("  identifiers \(caps.identifierSchemes.joined(separator: ", "))")
                printFlushed("  groups      \(caps.keyExchangeGroups.map(\.description).joined(separator: ", "))")
                printFlushed("  suites      \(caps.cipherSuites.count) (\(caps.cipherSuites.filter(\.isTLS13).count) for TLS 1.3)")
            }
        } catch {
            CLI.exit(for: error)
        }
    }
}
