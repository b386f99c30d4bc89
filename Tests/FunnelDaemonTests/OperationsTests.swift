import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import FunnelDaemon

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Test client

/// A deliberately dumb HTTP client: raw bytes in, raw bytes out, so tests can send garbage.
private struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String
}

private enum ClientError: Error {
    case socket(Int32)
    case connect(Int32)
    case malformedResponse(String)
}

private func connectSocket(port: Int) throws -> Int32 {
    #if canImport(Darwin)
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #else
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #endif
    guard fd >= 0 else { throw ClientError.socket(errno) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else {
        let error = errno
        close(fd)
        throw ClientError.connect(error)
    }
    return fd
}

#if canImport(Darwin)
private let noSignal: Int32 = 0
#else
private let noSignal = Int32(MSG_NOSIGNAL)
#endif

private func sendRaw(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, noSignal) }
        guard written > 0 else { return }
        offset += written
    }
}

private func readAll(_ fd: Int32) -> [UInt8] {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            result.append(contentsOf: chunk[..<count])
        } else if count < 0 && errno == EINTR {
            continue
        } else {
            return result
        }
    }
}

private func exchange(port: Int, _ request: [UInt8]) throws -> RawResponse {
    let fd = try connectSocket(port: port)
    defer { close(fd) }
    sendRaw(fd, request)
    let bytes = readAll(fd)
    let text = String(decoding: bytes, as: UTF8.self)
    guard let headEnd = text.range(of: "\r\n\r\n") else { throw ClientError.malformedResponse(text) }
    let headLines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
    let statusParts = headLines[0].split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
        throw ClientError.malformedResponse(text)
    }
    var headers: [String: String] = [:]
    for line in headLines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return RawResponse(status: status, headers: headers, body: String(text[headEnd.upperBound...]))
}

private func get(port: Int, _ path: String, method: String = "GET") throws -> RawResponse {
    try exchange(port: port, Array("\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n".utf8))
}

// MARK: - Fixtures

private let quietLogger = Logger(label: "operations-tests") { _ in SwiftLogNoOpLogHandler() }

private final class ReadinessFlag: Sendable {
    let ready = Mutex(false)
}

private final class LineCollector: Sendable {
    let lines = Mutex<[String]>([])
    var sink: JSONLogHandler.Sink { { line in self.lines.withLock { $0.append(line) } } }
}

private func startServer(
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    readiness: @escaping @Sendable () -> (ready: Bool, reason: String) = { (true, "") },
    configuration: HTTPServer.Configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
) throws -> (HTTPServer, Int) {
    let endpoints = OperationsEndpoints(registry: registry, readiness: readiness)
    let server = HTTPServer(configuration: configuration, logger: quietLogger, handler: endpoints.handler)
    let address = try server.start()
    return (server, address.port)
}

private func jsonObject(_ line: String) throws -> [String: Any] {
    let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(parsed as? [String: Any])
}

/// Groups every operations test so `swift test --filter OperationsTests` selects exactly these.
@Suite enum OperationsTests {}

// MARK: - HTTP endpoint

extension OperationsTests {
    @Suite("HTTP endpoint")
    struct HTTPEndpoint {
        @Test func healthzAnswersOK() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            #expect(port > 0)
            let response = try get(port: port, "/healthz")
            #expect(response.status == 200)
            #expect(response.body == "ok\n")
            #expect(response.headers["connection"] == "close")
            #expect(response.headers["content-length"] == "3")
        }

        @Test func metricsRendersRegistry() throws {
            let registry = PrometheusCollectorRegistry()
            let descriptor = MetricNameDescriptor(
                namespace: "ops",
                subsystem: "test",
                metricName: "events",
                unitName: "total",
                helpText: "Test events."
            )
            let counter = registry.makeCounter(descriptor: descriptor, labels: [("stage", "checkout")])
            counter.increment(by: Int64(3))
            let (server, port) = try startServer(registry: registry)
            defer { server.stop() }
            let response = try get(port: port, "/metrics?debug=1")
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(response.body.contains("# TYPE ops_test_events_total counter"))
            #expect(response.body.contains("# HELP ops_test_events_total Test events."))
            #expect(response.body.contains(#"ops_test_events_total{stage="checkout"} 3"#))
            #expect(response.headers["content-length"] == String(response.body.utf8.count))
        }

        @Test func readyzFollowsClosure() throws {
            let flag = ReadinessFlag()
            let (server, port) = try startServer(readiness: {
                flag.ready.withLock { $0 } ? (true, "") : (false, "replaying\nbacklog")
            })
            defer { server.stop() }
            let notReady = try get(port: port, "/readyz")
            #expect(notReady.status == 503)
            #expect(notReady.body == "replaying backlog\n")
            flag.ready.withLock { $0 = true }
            let ready = try get(port: port, "/readyz")
            #expect(ready.status == 200)
            #expect(ready.body == "ready\n")
        }

        @Test func headHasHeadersButNoBody() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            let response = try get(port: port, "/healthz", method: "HEAD")
            #expect(response.status == 200)
            #expect(response.headers["content-length"] == "3")
            #expect(response.body.isEmpty)
        }

        @Test func unknownPathIs404() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            #expect(try get(port: port, "/nope").status == 404)
        }

        @Test func otherMethodsAre405() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            let request = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            let response = try exchange(port: port, Array(request.utf8))
            #expect(response.status == 405)
            #expect(response.headers["allow"] == "GET, HEAD")
        }

        @Test(arguments: [
            "GARBAGE\r\n\r\n",
            "GET /healthz\r\n\r\n",
            "GET healthz HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n",
            "\u{16}\u{03}\u{01}\u{00}",  // A TLS ClientHello prefix: rejected without waiting for a newline.
        ])
        func garbageIs400(request: String) throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            #expect(try exchange(port: port, Array(request.utf8)).status == 400)
        }

        @Test func oversizedHeadIs431() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            let filler = String(repeating: "a", count: 9000)
            let response = try exchange(port: port, Array("GET /healthz HTTP/1.1\r\nX-Fill: \(filler)\r\n\r\n".utf8))
            #expect(response.status == 431)
        }

        @Test func silentClientDelaysNextRequestAtMostTheTimeout() throws {
            let timeout = Duration.milliseconds(500)
            let (server, port) = try startServer(
                configuration: HTTPServer.Configuration(host: "127.0.0.1", port: 0, receiveTimeout: timeout)
            )
            defer { server.stop() }
            let silent = try connectSocket(port: port)
            defer { close(silent) }
            let started = ContinuousClock.now
            let response = try get(port: port, "/healthz")
            let elapsed = ContinuousClock.now - started
            #expect(response.status == 200)
            #expect(elapsed < timeout + .seconds(1))
            // The silent client was dropped without a response.
            #expect(readAll(silent).isEmpty)
        }

        @Test func stopIsPromptAndFreesThePort() throws {
            let (server, port) = try startServer()
            #expect(try get(port: port, "/healthz").status == 200)
            // An idle connection mid-read must not hold up shutdown until its timeout.
            let idle = try connectSocket(port: port)
            defer { close(idle) }
            usleep(50_000)
            let started = ContinuousClock.now
            server.stop()
            #expect(ContinuousClock.now - started < .milliseconds(500))
            #expect(server.localAddress == nil)
            #expect(throws: (any Error).self) { try get(port: port, "/healthz") }
            server.stop()  // Idempotent.

            let again = HTTPServer(
                configuration: HTTPServer.Configuration(host: "127.0.0.1", port: port),
                logger: quietLogger,
                handler: { _ in .text("again") }
            )
            let address = try again.start()
            defer { again.stop() }
            #expect(address.port == port)
            #expect(try get(port: port, "/anything").body == "again\n")
        }

        @Test func startTwiceFailsAndPortConflictNamesTheAddress() throws {
            let (server, port) = try startServer()
            defer { server.stop() }
            #expect(throws: HTTPServerError.self) { try server.start() }
            let conflicting = HTTPServer(
                configuration: HTTPServer.Configuration(host: "127.0.0.1", port: port),
                logger: quietLogger,
                handler: { _ in nil }
            )
            let error = #expect(throws: HTTPServerError.self) { try conflicting.start() }
            #expect(error?.operation == .bind)
            #expect(error?.errno == EADDRINUSE)
            #expect(error?.description.contains("127.0.0.1:\(port)") == true)
        }

        @Test func serviceServesUntilCancelled() async throws {
            let server = HTTPServer(
                configuration: HTTPServer.Configuration(host: "127.0.0.1", port: 0),
                logger: quietLogger,
                handler: { _ in .text("svc") }
            )
            let service = HTTPService(server: server, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                var port: Int?
                for _ in 0..<200 {
                    if let bound = server.localAddress {
                        port = bound.port
                        break
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                let boundPort = try #require(port)
                #expect(try get(port: boundPort, "/x").body == "svc\n")
                group.cancelAll()
                try await group.waitForAll()
                #expect(server.localAddress == nil)
                #expect(throws: (any Error).self) { try get(port: boundPort, "/x") }
            }
        }
    }

}

// MARK: - Request parsing

extension OperationsTests {
    @Suite("HTTP request head parsing")
    struct RequestHeadParsing {
        @Test func parsesPathWithoutQuery() {
            let result = HTTPRequestHead.parse(Array("GET /metrics?x=1 HTTP/1.0\r\nHost: a\r\n\r\n".utf8))
            #expect(
                result
                    == .complete(
                        HTTPRequestHead(method: "GET", target: "/metrics?x=1", path: "/metrics", minorVersion: 0)
                    )
            )
        }

        @Test func waitsForTheEmptyLine() {
            #expect(HTTPRequestHead.parse(Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)) == .incomplete)
            #expect(HTTPRequestHead.parse(Array("GE".utf8)) == .incomplete)
        }

        @Test func rejectsOtherMajorVersions() {
            #expect(
                HTTPRequestHead.parse(Array("GET / HTTP/2.0\r\n\r\n".utf8))
                    == .invalid(status: 505, reason: "unsupported HTTP version")
            )
        }
    }

}

// MARK: - Logging

extension OperationsTests {
    @Suite("JSON log handler")
    struct JSONLogging {
        @Test func writesOneParsableObjectPerLine() throws {
            let collector = LineCollector()
            var logger = Logger(label: "funnel.test") { label in
                JSONLogHandler(label: label, sink: collector.sink)
            }
            logger[metadataKey: "instance"] = "a-1"
            logger.info(
                "said \"hi\"\nthen\tleft \u{01}\u{7F}",
                metadata: [
                    "partition": "3",
                    "nested": ["offsets": ["1", "2"], "topic": "events"],
                    "level": "collides",
                ]
            )
            let lines = collector.lines.withLock { $0 }
            #expect(lines.count == 1)
            let line = try #require(lines.first)
            #expect(line.hasSuffix("\n"))
            #expect(!line.dropLast().contains("\n"))
            #expect(line.contains(#"said \"hi\"\nthen\tleft \u0001\u007f"#))

            let object = try jsonObject(line)
            #expect(object["message"] as? String == "said \"hi\"\nthen\tleft \u{01}\u{7F}")
            #expect(object["level"] as? String == "info")
            #expect(object["label"] as? String == "funnel.test")
            #expect(object["source"] as? String == "FunnelDaemonTests")
            #expect(object["instance"] as? String == "a-1")
            #expect(object["partition"] as? String == "3")
            #expect(object["metadata.level"] as? String == "collides")
            let nested = try #require(object["nested"] as? [String: Any])
            #expect(nested["topic"] as? String == "events")
            #expect(nested["offsets"] as? [String] == ["1", "2"])
            let ts = try #require(object["ts"] as? String)
            #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.contains("T"))
        }

        @Test func respectsLogLevelAndRecordsErrors() throws {
            struct Boom: Error {}
            let collector = LineCollector()
            var logger = Logger(label: "lvl") { label in JSONLogHandler(label: label, sink: collector.sink) }
            logger.logLevel = .warning
            logger.info("dropped")
            logger.error("failed", error: Boom())
            let lines = collector.lines.withLock { $0 }
            #expect(lines.count == 1)
            let object = try jsonObject(try #require(lines.first))
            #expect(object["level"] as? String == "error")
            #expect(object["error.message"] as? String == "Boom()")
            #expect((object["error.type"] as? String)?.hasSuffix("Boom") == true)
        }

        @Test func repairedInvalidUTF8StaysValidJSON() throws {
            let collector = LineCollector()
            let logger = Logger(label: "utf8") { label in JSONLogHandler(label: label, sink: collector.sink) }
            let broken = String(decoding: [0x61, 0xFF, 0xFE, 0x62] as [UInt8], as: UTF8.self)
            logger.warning("\(broken)", metadata: ["k\"ey": "\(broken)\u{2028}"])
            let object = try jsonObject(try #require(collector.lines.withLock { $0 }.first))
            #expect(object["message"] as? String == "a\u{FFFD}\u{FFFD}b")
            #expect(object["k\"ey"] as? String == "a\u{FFFD}\u{FFFD}b\u{2028}")
        }

        @Test func concurrentLinesStayWhole() throws {
            let collector = LineCollector()
            let logger = Logger(label: "many") { label in JSONLogHandler(label: label, sink: collector.sink) }
            DispatchQueue.concurrentPerform(iterations: 200) { index in
                logger.info("line \(index)", metadata: ["payload": "\(String(repeating: "x", count: index * 10))"])
            }
            let lines = collector.lines.withLock { $0 }
            #expect(lines.count == 200)
            for line in lines {
                _ = try jsonObject(line)
            }
        }

        @Test func timestampIsISO8601UTCWithMilliseconds() {
            #expect(JSONLogEncoder.timestamp(seconds: 0, nanoseconds: 5_000_000) == "1970-01-01T00:00:00.005Z")
            #expect(
                JSONLogEncoder.timestamp(seconds: 1_709_251_199, nanoseconds: 999_999_999) == "2024-02-29T23:59:59.999Z"
            )
        }
    }

}

// MARK: - Metrics

extension OperationsTests {
    @Suite("Metrics setup")
    struct Metrics {
        @Test func localFactoryFeedsRegistryWithoutGlobalBootstrap() {
            let setup = MetricsSetup()
            let counter = Counter(label: "ops_local_total", dimensions: [("kind", "a")], factory: setup.factory)
            counter.increment(by: Int64(2))
            let rendered = setup.registry.emitToString()
            #expect(rendered.contains(#"ops_local_total{kind="a"} 2"#))
        }
    }
}
