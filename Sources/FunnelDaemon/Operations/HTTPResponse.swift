/// What a route answers: status, content type and body.
///
/// The server adds `Content-Length` and `Connection: close` itself and drops the body for `HEAD`,
/// so routes never have to think about framing.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A `text/plain` response; a trailing newline keeps `curl` output readable.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
    }

    /// The standard reason phrase, so status lines stay meaningful to humans reading `curl -v`.
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    /// Serializes status line, headers and (unless `includeBody` is false, for `HEAD`) the body.
    func serialized(includeBody: Bool, extraHeaders: [(String, String)] = []) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasonPhrase(for: status))\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\n"
        for (name, value) in extraHeaders {
            head += "\(name): \(value)\r\n"
        }
        head += "Cache-Control: no-store\r\n"
        head += "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if includeBody {
            bytes.append(contentsOf: body)
        }
        return bytes
    }
}
