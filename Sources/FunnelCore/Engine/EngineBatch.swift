/// Records handed to the engine together (``Engine/process(_:decoder:sink:)``), so the cache
/// misses of their hash-table probes overlap: every record is decoded and its user's index
/// entry requested first, then every user's record, and only then are the events applied, in
/// order. The outputs are exactly those of processing the records one by one.
///
/// The caller keeps every appended record's bytes valid until the batch is processed. A batch
/// is reused: its storage is allocated once, so batching allocates nothing per event.
public struct EngineBatch {
    /// Enough records to cover a memory round trip with decoding work; more only spreads the
    /// prefetched lines over more of the cache before they are used.
    public static let defaultCapacity = 16

    public let capacity: Int
    var records: [UnsafeRawBufferPointer]
    var positions: [SourcePosition]
    var events: [Event]
    var statuses: [DecodeStatus]
    public private(set) var count = 0

    public init(capacity: Int = EngineBatch.defaultCapacity) {
        self.capacity = max(1, capacity)
        records = Array(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: self.capacity)
        positions = Array(repeating: SourcePosition(source: 0, offset: 0), count: self.capacity)
        events = Array(repeating: Event(), count: self.capacity)
        statuses = Array(repeating: .skipped, count: self.capacity)
    }

    public var isEmpty: Bool { count == 0 }
    public var isFull: Bool { count == capacity }

    /// Adds a record; the batch must not be full.
    public mutating func append(_ record: UnsafeRawBufferPointer, at position: SourcePosition) {
        precondition(count < capacity, "EngineBatch is full: process it first")
        records[count] = record
        positions[count] = position
        count += 1
    }

    /// Empties the batch (after every record was applied); its storage is kept.
    public mutating func removeAll() { count = 0 }
}
