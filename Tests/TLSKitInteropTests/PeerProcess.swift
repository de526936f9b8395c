import Foundation
import Testing

/// A real peer program (openssl, curl, python3) run for one test. Output is collected as
/// it arrives; waits are bounded; the process is killed when the test is done with it.
final class PeerProcess: @unchecked Sendable {
    // @unchecked: the output buffers are guarded by `lock`.
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    /// Pipes whose end of file has been read (0, 1 or 2): all output is in once both are.
    private var closedPipes = 0
    let command: String

    init(_ tool: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws {
        command = ([tool] + arguments).joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: try PeerProcess.path(of: tool))
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe = Pipe()
        process.standardInput = inPipe
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            self?.lock.withLock {
                self?.out.append(data)
                if data.isEmpty { self?.closedPipes += 1 }
            }
        }
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            self?.lock.withLock {
                self?.err.append(data)
                if data.isEmpty { self?.closedPipes += 1 }
            }
        }
        try process.run()
        if let stdin { inPipe.fileHandleForWriting.write(stdin) }
        if stdin != nil { try? inPipe.fileHandleForWriting.close() }
    }

    deinit {
        if process.isRunning { stop() }
    }

    /// SIGTERM, then SIGKILL (openssl s_server ignores SIGTERM while it waits).
    func stop() {
        let pid = process.processIdentifier
        guard process.isRunning, pid > 0 else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
    }

    var standardOutput: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var standardError: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Waits until stdout contains `marker` (or the process exits, or `seconds` pass).
    func waitForOutput(_ marker: String, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if standardOutput.contains(marker) { return true }
            if !process.isRunning { return standardOutput.contains(marker) }
            usleep(5_000)
        }
        return false
    }

    /// Waits for the process to exit (killing it after `seconds`) and returns its status.
    @discardableResult
    func finish(seconds: Double = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            stop()
            return -1
        }
        process.waitUntilExit()
        // The last bytes are in once both pipes have reached end of file (a loaded machine,
        // e.g. under a sanitizer, can take long to deliver them; a child that left a
        // grandchild holding the pipes open is given up on after 10 s).
        let outputDeadline = Date().addingTimeInterval(10)
        while lock.withLock({ closedPipes }) < 2 && Date() < outputDeadline { usleep(2_000) }
        return process.terminationStatus
    }

    /// Complete lines of stdout so far (a line still being written is left out).
    private var completeLines: [Substring] {
        let text = standardOutput
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // after the last newline: empty, or a partial line
        return lines
    }

    /// Waits until `parse` finds something in the output (bounded).
    func waitFor<T>(seconds: Double = 10, _ parse: () -> T?) -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = parse() { return value }
            if !process.isRunning { return parse() }
            usleep(5_000)
        }
        return nil
    }

    /// The port from an `openssl s_server` "ACCEPT host:port" line.
    func acceptedPort() -> UInt16? {
        guard let line = completeLines.first(where: { $0.hasPrefix("ACCEPT") }),
            let colon = line.lastIndex(of: ":")
        else { return nil }
        return UInt16(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    /// The port from a "PORT n" line (the Python helpers print one when listening).
    func printedPort() -> UInt16? {
        guard let line = completeLines.first(where: { $0.hasPrefix("PORT ") }) else { return nil }
        return UInt16(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
    }

    static func path(of tool: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MissingTool(tool: tool)
    }

    struct MissingTool: Error, CustomStringConvertible {
        let tool: String
        var description: String { "\(tool) is not installed; .ci/run installs it — a missing peer fails the test" }
    }
}
