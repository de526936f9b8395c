import Foundation
import TLSKit
import TLSKitIO

/// Just enough SMTP for STARTTLS (RFC 3207): the client's and the server's cleartext
/// steps, and a tiny server that accepts mail inside TLS.
enum SMTP {
    // MARK: cleartext, on the plain socket

    /// Reads one line (up to CRLF) from a plain socket, a byte at a time so that no TLS byte
    /// after the line is consumed.
    static func readLine(_ fd: Int32) throws(TLSError) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 4096 {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else {
                throw TLSError(.io, n == 0 ? "the peer closed the connection during the SMTP exchange" : "recv() failed during the SMTP exchange")
            }
            if byte == 0x0A { break }
            if byte != 0x0D { bytes.append(byte) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ fd: Int32, _ text: String) throws(TLSError) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TLSError(.io, "send() failed during the SMTP exchange") }
            offset += n
        }
    }

    /// Reads a (possibly multi-line) reply: its code and lines.
    static func readReply(_ fd: Int32) throws(TLSError) -> (code: Int, lines: [String]) {
        var lines: [String] = []
        while true {
            let line = try readLine(fd)
            lines.append(line)
            guard line.count >= 3, let code = Int(line.prefix(3)) else {
                throw TLSError(.protocolViolation, "the server's SMTP reply is malformed: '\(line)'")
            }
            if line.count == 3 || line[line.index(line.startIndex, offsetBy: 3)] == " " { return (code, lines) }
        }
    }

    /// The client's side: greeting, EHLO, STARTTLS; TLS starts afterwards.
    static func clientStartTLS(_ fd: Int32) throws(TLSError) {
        let greeting = try readReply(fd)
        guard greeting.code == 220 else { throw TLSError(.handshake, "the SMTP server did not greet with 220: \(greeting.lines.last ?? "")") }
        try write(fd, "EHLO tlskit.invalid\r\n")
        let ehlo = try readReply(fd)
        guard ehlo.code == 250 else { throw TLSError(.handshake, "EHLO was refused: \(ehlo.lines.last ?? "")") }
        guard ehlo.lines.contains(where: { $0.uppercased().dropFirst(4).hasPrefix("STARTTLS") }) else {
            throw TLSError(.handshake, "the SMTP server does not offer STARTTLS")
        }
        try write(fd, "STARTTLS\r\n")
        let go = try readReply(fd)
        guard go.code == 220 else { throw TLSError(.handshake, "STARTTLS was refused: \(go.lines.last ?? "")") }
    }

    /// The server's side: greet, answer EHLO with STARTTLS, and return `true` once the
    /// client asked for TLS (`false` if it quit).
    static func serverStartTLS(_ fd: Int32) throws(TLSError) -> Bool {
        try write(fd, "220 tlskit ESMTP test server\r\n")
        while true {
            let line = try readLine(fd)
            switch line.uppercased().split(separator: " ").first.map(String.init) ?? "" {
            case "EHLO": try write(fd, "250-tlskit\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n")
            case "HELO": try write(fd, "250 tlskit\r\n")
            case "STARTTLS":
                try write(fd, "220 Ready to start TLS\r\n")
                return true
            case "QUIT":
                try write(fd, "221 Bye\r\n")
                return false
            case "NOOP", "RSET": try write(fd, "250 OK\r\n")
            default: try write(fd, "530 Must issue a STARTTLS command first\r\n")
            }
        }
    }

    // MARK: inside TLS

    /// The longest line the mail sink takes, CRLF included (RFC 5321 allows 1,000 for text
    /// lines, 512 for commands; this is generous). A longer line ends the session with 500.
    static let maximumLineLength = 4_096
    /// The largest message accepted, as advertised in EHLO's SIZE; a larger one is read to its
    /// end, discarded and refused with 552.
    static let maximumMessageSize = 1_000_000

    /// A minimal mail sink: EHLO, MAIL, RCPT, DATA … ".", QUIT. Returns how many messages it took.
    /// Memory is bounded: one line (``maximumLineLength``) and one message
    /// (``maximumMessageSize``) at a time; and it replies with blocking sends, so a client that
    /// sends without reading is held by TCP once the replies fill the buffers.
    static func serve(_ socket: TLSSocket) throws(TLSError) -> Int {
        var buffer: [UInt8] = []
        var start = 0  // where the next line begins; the front is dropped when the buffer refills
        var scanned = 0  // bytes of `buffer` already searched for LF
        func line() throws(TLSError) -> String? {
            while true {
                if let end = buffer[scanned...].firstIndex(of: 0x0A) {
                    let text = String(decoding: buffer[start..<end].filter { $0 != 0x0D }, as: UTF8.self)
                    start = end + 1
                    scanned = start
                    return text
                }
                buffer.removeFirst(start)
                start = 0
                scanned = buffer.count
                guard buffer.count < maximumLineLength else {
                    try? socket.send("500 Line too long (over \(maximumLineLength) bytes)\r\n")
                    try? socket.shutdown(waitForPeer: false)
                    throw TLSError(.protocolViolation, "the client sent a line over \(maximumLineLength) bytes; the SMTP session was ended")
                }
                guard let chunk = try socket.receive() else { return nil }
                buffer += chunk
            }
        }
        var messages = 0
        while let command = try line() {
            switch command.uppercased().split(separator: " ").first.map(String.init) ?? "" {
            case "EHLO": try socket.send("250-tlskit\r\n250 SIZE \(maximumMessageSize)\r\n")
            case "HELO", "MAIL", "RCPT", "NOOP", "RSET": try socket.send("250 OK\r\n")
            case "DATA":
                try socket.send("354 End data with <CR><LF>.<CR><LF>\r\n")
                // The body is only counted (the sink keeps no mail), so its size is all that is held.
                var size = 0
                while let text = try line(), text != "." { size += text.utf8.count + 2 }
                if size > maximumMessageSize {
                    try socket.send("552 Message exceeds fixed maximum message size (\(maximumMessageSize) bytes)\r\n")
                } else {
                    messages += 1
                    try socket.send("250 OK: queued\r\n")
                }
            case "QUIT":
                try socket.send("221 Bye\r\n")
                try socket.shutdown(waitForPeer: false)
                return messages
            default: try socket.send("502 Command not implemented\r\n")
            }
        }
        return messages
    }
}
