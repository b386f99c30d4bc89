import FunnelCore
import Foundation

/// `funnelpulse replay`: runs the engine over files in event-time order and writes
/// `DIR/funnel.jsonl`, `DIR/deadletter.jsonl`, `DIR/scores.jsonl` (with the model on),
/// `DIR/alerts.jsonl` (with alerting on) and
/// `DIR/summary.json`. `modelIn` starts the model from a saved state; `modelOut` saves it at the end.
///
/// Several files are merged by event time (each file's records in file order, the file whose
/// next record is earliest goes first; ties by file order), so the same inputs always give the
/// same outputs byte for byte — `summary.json`'s `performance` object excepted.
public struct ReplayDriver {
    public struct Options: Sendable {
        public var inputs: [String]
        public var outputDirectory: String
        public var mapping: CompiledMapping
        public var config: FunnelPulseConfig
        public var progress: Bool
        public var modelIn: String?
        public var modelOut: String?

        public init(inputs: [String], outputDirectory: String, mapping: CompiledMapping,
                    config: FunnelPulseConfig, progress: Bool, modelIn: String? = nil, modelOut: String? = nil) {
            self.modelIn = modelIn
            self.modelOut = modelOut
            self.inputs = inputs
            self.outputDirectory = outputDirectory
            self.mapping = mapping
            self.config = config
            self.progress = progress
        }
    }

    public struct Result: Sendable {
        public var stats: EngineStats
        public var users: Int
        public var bytesPerUser: Double
        public var elapsedSeconds: Double
        public var eventsPerSecond: Double
        public var snapshots: Int
    }

    let options: Options

    public init(options: Options) { self.options = options }

    public func run() throws -> Result {
        guard !options.inputs.isEmpty else { throw ReplayError.badArguments("replay needs at least one --input file") }
        try FileManager.default.createDirectory(atPath: options.outputDirectory, withIntermediateDirectories: true)
        let dir = options.outputDirectory
        var engine: Engine
        do {
            engine = try options.config.makeEngine(environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ReplayError.badArguments("configuration: \(error)")
        }
        if let path = options.modelIn {
            do {
                try engine.loadModel(try ModelFile.read(path))
            } catch let error as ModelError {
                throw ReplayError.badArguments("--model-in \(path): \(error.message)")
            }
        }
        let readers = try options.inputs.map { try LineReader(path: $0) }
        var decoders = readers.map { _ in RecordDecoder(mapping: options.mapping) }
        var sink = ReplaySink(
            funnel: try FileOutput(path: dir + "/funnel.jsonl"),
            deadLetters: try FileOutput(path: dir + "/deadletter.jsonl"),
            sourceNames: options.inputs.map { ($0 as NSString).lastPathComponent })
        sink.pseudonymizer = engine.userPseudonymizer
        if let model = engine.model {
            sink.scores = try FileOutput(path: dir + "/scores.jsonl")
            sink.scoreNames = ScoreRecord.Names(features: model.features.names, steps: model.quality.stepNames)
        }
        if engine.alerts != nil { sink.alerts = try FileOutput(path: dir + "/alerts.jsonl") }
        var progress = options.progress ? ProgressBar(totalBytes: readers.reduce(0) { $0 + $1.fileSize }) : nil

        let clock = ContinuousClock()
        let started = clock.now
        if readers.count == 1 {
            try runSingle(readers[0], decoder: &decoders[0], engine: &engine, sink: &sink, progress: &progress)
        } else {
            try runMerged(readers, decoders: &decoders, engine: &engine, sink: &sink, progress: &progress)
        }
        engine.finish(sink: &sink)
        let elapsed = clock.now - started
        progress?.finish()
        if let error = sink.writeError { throw error }
        try sink.funnel.sync()
        try sink.deadLetters.sync()
        try sink.scores?.sync()
        try sink.alerts?.sync()
        if let path = options.modelOut, let bytes = engine.saveModel() {
            try ModelFile.write(bytes, to: path)
        }

        let seconds = elapsed.inSeconds
        let result = Result(
            stats: engine.stats, users: engine.users.count, bytesPerUser: engine.users.bytesPerUser,
            elapsedSeconds: seconds, eventsPerSecond: seconds > 0 ? Double(engine.stats.read) / seconds : 0,
            snapshots: sink.snapshots)
        var outputs = ["funnel.jsonl": sink.funnel.records, "deadletter.jsonl": sink.deadLetters.records]
        if let scores = sink.scores { outputs["scores.jsonl"] = scores.records }
        if let alerts = sink.alerts { outputs["alerts.jsonl"] = alerts.records }
        let summary = SummaryWriter.encode(engine: engine, inputs: options.inputs, result: result, outputs: outputs,
                                           alerts: sink.alerts == nil ? nil : sink.alertCounts)
        let summaryFile = try FileOutput(path: dir + "/summary.json")
        try summaryFile.writeLine(summary)
        try summaryFile.sync()
        return result
    }

    private func runSingle(_ reader: LineReader, decoder: inout RecordDecoder, engine: inout Engine,
                           sink: inout ReplaySink, progress: inout ProgressBar?) throws {
        decoder.startSource()
        // Lines already in the reader's buffer go to the engine in batches (their bytes stay
        // valid until the reader refills); the line that needs a refill goes alone.
        var batch = EngineBatch()
        var sinceCheck = 0
        while true {
            if sinceCheck >= 0x10000 {
                sinceCheck = 0
                if let error = sink.writeError { throw error }
                progress?.update(bytes: reader.bytesRead, events: engine.stats.read)
            }
            while !batch.isFull, let (bytes, number) = reader.nextBuffered() {
                batch.append(bytes, at: SourcePosition(source: 0, offset: number))
            }
            if !batch.isEmpty {
                sinceCheck += batch.count
                engine.process(&batch, decoder: &decoder, sink: &sink)
                continue
            }
            guard let line = try reader.next() else { break }
            switch line {
            case .record(let bytes, let number):
                engine.process(bytes, decoder: &decoder, at: SourcePosition(source: 0, offset: number), sink: &sink)
            case .oversized(let head, let number):
                engine.countRead()
                engine.reject(DecodeFailure(.tooLarge, "line longer than the reader's limit"), record: head,
                              position: SourcePosition(source: 0, offset: number), sink: &sink)
            }
            sinceCheck += 1
        }
    }

    private func runMerged(_ readers: [LineReader], decoders: inout [RecordDecoder], engine: inout Engine,
                           sink: inout ReplaySink, progress: inout ProgressBar?) throws {
        struct Head {
            var outcome: DecodeOutcome
            var record: UnsafeRawBufferPointer
            var line: Int64
        }
        var heads: [Head?] = Array(repeating: nil, count: readers.count)
        func load(_ i: Int) throws {
            heads[i] = nil
            guard let line = try readers[i].next() else { return }
            switch line {
            case .record(let bytes, let number):
                heads[i] = Head(outcome: decoders[i].decode(bytes), record: bytes, line: number)
            case .oversized(let head, let number):
                heads[i] = Head(outcome: .rejected(DecodeFailure(.tooLarge, "line longer than the reader's limit")),
                                record: head, line: number)
            }
        }
        for i in readers.indices {
            decoders[i].startSource()
            engine.registerSource(Int32(i))
            try load(i)
            if heads[i] == nil { engine.setSourceIdle(Int32(i), true) }
        }
        var n = 0
        while true {
            // Non-events (rejections, headers) go first; then the earliest event, ties by file order.
            var pick = -1
            var pickTime = Int64.max
            for i in heads.indices {
                guard let head = heads[i] else { continue }
                guard case .event(let event) = head.outcome else {
                    pick = i
                    break
                }
                if event.timestamp < pickTime {
                    pick = i
                    pickTime = event.timestamp
                }
            }
            guard pick >= 0, let head = heads[pick] else { break }
            engine.ingest(head.outcome, record: head.record,
                          at: SourcePosition(source: Int32(pick), offset: head.line), sink: &sink)
            try load(pick)
            // An exhausted file no longer holds the watermark back.
            if heads[pick] == nil { engine.setSourceIdle(Int32(pick), true) }
            n &+= 1
            if n & 0xFFFF == 0 {
                if let error = sink.writeError { throw error }
                progress?.update(bytes: readers.reduce(0) { $0 + $1.bytesRead }, events: engine.stats.read)
            }
        }
    }
}
