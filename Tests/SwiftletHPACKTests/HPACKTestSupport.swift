import Foundation
import Testing
@testable import SwiftletHPACK

/// Collects decoded fields as strings (tests only; the real sink copies bytes).
struct CollectingSink: HPACKSink {
    var fields: [(String, String)] = []
    var neverIndexed: [Bool] = []
    mutating func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed flag: Bool) {
        fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        neverIndexed.append(flag)
    }
}

func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func decode(_ decoder: HPACKDecoder, _ block: [UInt8]) throws -> [(String, String)] {
    var sink = CollectingSink()
    try block.withUnsafeBytes { raw in try decoder.decode(raw, into: &sink) }
    return sink.fields
}

func encode(_ encoder: HPACKEncoder, _ fields: [(String, String)], indexing: HPACKIndexing = .incremental) -> [UInt8] {
    var output = HPACKOutput()
    encoder.beginBlock(into: &output)
    for (name, value) in fields {
        Array(name.utf8).withUnsafeBytes { n in
            Array(value.utf8).withUnsafeBytes { v in
                encoder.encode(name: n, value: v, indexing: indexing, into: &output)
            }
        }
    }
    return Array(output.bytes)
}

func sameFields(_ a: [(String, String)], _ b: [(String, String)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
}

/// The hpack-test-case stories: $HPACK_TEST_CASE_DIR, else ../shared next to
/// the repository, else the compressed copy in Tests/Fixtures (MIT licence
/// inside), unpacked once into a temporary directory that is removed when
/// the test process exits.
enum Stories {
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["HPACK_TEST_CASE_DIR"] {
            return URL(fileURLWithPath: path)
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = repository.deletingLastPathComponent().appendingPathComponent("shared/hpack-test-case")
        if FileManager.default.fileExists(atPath: shared.appendingPathComponent("raw-data").path) { return shared }
        let archive = repository.appendingPathComponent("Tests/Fixtures/hpack-test-case.tar.xz")
        let target = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftlet-hpack-\(getpid())")
        try? FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Stories.directory.deletingLastPathComponent().path) }
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["xJf", archive.path, "-C", target.path]
        try? tar.run()
        tar.waitUntilExit()
        return target.appendingPathComponent("hpack-test-case")
    }()

    struct Case {
        let headerTableSize: Int?
        let wire: [UInt8]
        let headers: [(String, String)]
    }

    static func implementations() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return entries.filter { name in
            var isDirectory: ObjCBool = false
            return name != "raw-data" && FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
    }

    static func files(in implementation: String) -> [URL] {
        let folder = directory.appendingPathComponent(implementation)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { folder.appendingPathComponent($0) }
    }

    static func cases(_ file: URL) throws -> [Case] {
        let data = try Data(contentsOf: file)
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map { item in
            let headers = (item["headers"] as! [[String: String]]).map { ($0.keys.first!, $0.values.first!) }
            return Case(headerTableSize: item["header_table_size"] as? Int,
                        wire: bytes(hex: item["wire"] as? String ?? ""), headers: headers)
        }
    }
}
