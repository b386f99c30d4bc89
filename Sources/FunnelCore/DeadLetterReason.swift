/// Why a record could not be used. Every rejected record carries exactly one reason.
public enum DeadLetterReason: UInt8, CaseIterable, Sendable, Codable {
    case malformedJSON = 0
    case malformedCSV = 1
    case missingUser = 2
    case missingTimestamp = 3
    case badTimestamp = 4
    case missingType = 5
    case unknownType = 6
    case badValue = 7
    case tooLarge = 8
    case tooDeep = 9
    case invalidUTF8 = 10
    case late = 11
    case emptyRecord = 12
    case tombstone = 13
    case timestampOutOfRange = 14

    public var name: String {
        switch self {
        case .malformedJSON: "malformed_json"
        case .malformedCSV: "malformed_csv"
        case .missingUser: "missing_user"
        case .missingTimestamp: "missing_timestamp"
        case .badTimestamp: "bad_timestamp"
        case .missingType: "missing_type"
        case .unknownType: "unknown_type"
        case .badValue: "bad_value"
        case .tooLarge: "too_large"
        case .tooDeep: "too_deep"
        case .invalidUTF8: "invalid_utf8"
        case .late: "late"
        case .emptyRecord: "empty_record"
        case .tombstone: "tombstone"
        case .timestampOutOfRange: "timestamp_out_of_range"
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let reason = DeadLetterReason.allCases.first(where: { $0.name == name }) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown reason '\(name)'"))
        }
        self = reason
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
