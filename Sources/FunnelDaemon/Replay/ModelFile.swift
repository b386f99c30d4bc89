import Foundation

/// Reads and writes saved-model files (the bytes come from and go to ``Engine``).
enum ModelFile {
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReplayError.cannotOpen(path, "no such file or not readable")
        }
        return [UInt8](data)
    }

    /// Writes to a temporary file first and renames it, so a crash never leaves half a model.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
            throw ReplayError.writeFailed(tmp, "cannot create file")
        }
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            throw ReplayError.writeFailed(path, "\(error)")
        }
    }
}
