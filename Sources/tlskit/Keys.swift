import ArgumentParser
import Foundation
import TLSKit

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with key stores (PKCS#11 tokens, provider stores).", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the keys and certificates a store offers, with the URIs to use for --key and --cert.")

        @Argument(help: "The store, e.g. 'pkcs11:token=my-token'.")
        var store: String
        @Option(name: .customLong("pin-env"), help: "Environment variable holding the PIN (to list private keys too).")
        var pinEnv: String?
        @OptionGroup var backendOptions: BackendOptions

        func run() throws {
            do {
                let backend = try backendOptions.makeBackend()
                guard let browser = backend as? any TLSKeyStoreBrowsing else {
                    throw CLIError.usage("the \(backend.name) backend cannot list key stores")
                }
                var pin: TLSPassphrase?
                if let pinEnv {
                    guard let value = ProcessInfo.processInfo.environment[pinEnv] else {
                        throw CLIError.usage("the environment variable \(pinEnv) is not set")
                    }
                    pin = .text(value)
                }
                let objects = try browser.listObjects(in: store, passphrase: pin)
                if objects.isEmpty { printFlushed("(no objects)") }
                for object in objects {
                    // A listing goes to terminals and logs: never show a PIN, whatever the store returns.
                    var shown = object
                    shown.identifier = object.identifier.map(TLSRedaction.redactingPIN)
                    printFlushed(shown.description)
                }
            } catch {
                CLI.exit(for: error)
            }
        }
    }
}
