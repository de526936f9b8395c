import ArgumentParser

@main
struct TLSKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tlskit",
        abstract: "TLS client, server and demo on top of TLSKit.",
        discussion: """
            Exit codes: 0 success; 1 usage or configuration error; 2 TLS handshake, \
            verification or connection failure. Errors are one line on stderr naming the cause.
            """,
        subcommands: [Demo.self, Serve.self, Connect.self, Backends.self, Keys.self]
    )
}
