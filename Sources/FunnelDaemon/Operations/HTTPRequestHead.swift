/// The request line of an HTTP/1.x request, parsed from the raw head bytes.
///
/// The endpoint only serves `GET`/`HEAD` without bodies, so header values are validated for
/// shape but not kept. Parsing is a pure function of the bytes, which keeps it unit-testable
/// without sockets.
struct HTTPRequestHead: Sendable, Equatable {
    var method: String
    /// The request target as sent, e.g. `/metrics?x=1`.
    var target: String
    /// `target` without query and fragment: what routes match on.
    var path: String
    var minorVersion: Int

    /// Result of looking at the bytes received so far.
    enum ParseResult: Sendable, Equatable {
        /// More bytes are needed.
        case incomplete
        case complete(HTTPRequestHead)
        /// Answer with `status` and close; `reason` is for logs.
        case invalid(status: Int, reason: String)
    }

    // MARK: - Parsing

    /// Parses `bytes` if they contain a complete head (terminated by an empty line).
    ///
    /// Rejects as soon as the request line is known to be malformed, so a client speaking TLS or
    /// garbage gets its 400 without waiting for a terminator that may never come.
    static func parse(_ bytes: [UInt8]) -> ParseResult {
        // Fast reject: the first bytes must be a method token.
        for byte in bytes {
            if byte == UInt8(ascii: " ") { break }
            if !isTokenCharacter(byte) {
                return .invalid(status: 400, reason: "malformed method")
            }
        }
        guard let firstLineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return .incomplete
        }
        let requestLine = trimCR(bytes[..<firstLineEnd])
        let head: HTTPRequestHead
        switch parseRequestLine(requestLine) {
        case .success(let parsed):
            head = parsed
        case .failure(let failure):
            return .invalid(status: failure.status, reason: failure.reason)
        }
        // Header lines until the empty line.
        var lineStart = firstLineEnd + 1
        while let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = trimCR(bytes[lineStart..<lineEnd])
            if line.isEmpty {
                return .complete(head)
            }
            guard isValidHeaderLine(line) else {
                return .invalid(status: 400, reason: "malformed header line")
            }
            lineStart = lineEnd + 1
        }
        return .incomplete
    }

    private struct Failure: Error {
        var status: Int
        var reason: String
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> Result<HTTPRequestHead, Failure> {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            return .failure(Failure(status: 400, reason: "request line needs three parts"))
        }
        let method = parts[0]
        let target = parts[1]
        let version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenCharacter) else {
            return .failure(Failure(status: 400, reason: "malformed method"))
        }
        // Origin-form only: this endpoint is never addressed through a proxy.
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(Failure(status: 400, reason: "malformed request target"))
        }
        let versionBytes = Array(version)
        guard versionBytes.count == 8, versionBytes.starts(with: Array("HTTP/".utf8)),
            isDigit(versionBytes[5]), versionBytes[6] == UInt8(ascii: "."), isDigit(versionBytes[7])
        else {
            return .failure(Failure(status: 400, reason: "malformed HTTP version"))
        }
        guard versionBytes[5] == UInt8(ascii: "1") else {
            return .failure(Failure(status: 505, reason: "unsupported HTTP version"))
        }
        let targetString = String(decoding: target, as: UTF8.self)
        let pathEnd = target.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? target.endIndex
        return .success(
            HTTPRequestHead(
                method: String(decoding: method, as: UTF8.self),
                target: targetString,
                path: String(decoding: target[..<pathEnd], as: UTF8.self),
                minorVersion: Int(versionBytes[7] - UInt8(ascii: "0"))
            )
        )
    }

    /// `name ":" value`, with a token name and no control characters except tab in the value.
    private static func isValidHeaderLine(_ line: ArraySlice<UInt8>) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            return false
        }
        guard line[..<colon].allSatisfy(isTokenCharacter) else { return false }
        return line[(colon + 1)...].allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    // MARK: - Character classes (RFC 9110)

    private static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static let tokenSymbols: [UInt8] = Array("!#$%&'*+-.^_`|~".utf8)

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return tokenSymbols.contains(byte)
        }
    }
}
