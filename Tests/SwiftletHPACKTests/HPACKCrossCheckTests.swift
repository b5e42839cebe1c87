import Foundation
import Testing
@testable import SwiftletHPACK

/// Our codec against python-hpack, both ways, over every raw-data story.
@Suite("HPACK cross-check with python-hpack")
struct HPACKCrossCheckTests {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("hpack_crosscheck.py").path

    func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("python-hpack decodes what our encoder produces", arguments: [true, false])
    func pythonDecodesOurs(huffman: Bool) throws {
        var stories: [[[String: Any]]] = []
        for file in Stories.files(in: "raw-data") {
            let encoder = HPACKEncoder()
            encoder.huffman = huffman
            stories.append(try Stories.cases(file).map { story in
                ["wire": hex(encode(encoder, story.headers)), "headers": story.headers.map { [$0.0, $0.1] }]
            })
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-hpack-ours-\(getpid())-\(huffman).json")
        try JSONSerialization.data(withJSONObject: ["stories": stories]).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try python(["decode", file.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("ok "))
    }

    @Test("our decoder decodes what python-hpack's encoder produces")
    func weDecodePythons() throws {
        let result = try python(["encode", Stories.directory.appendingPathComponent("raw-data").path])
        #expect(result.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        var blocks = 0
        for story in json["stories"] as! [[[String: Any]]] {
            let decoder = HPACKDecoder(limits: HPACKDecoderLimits(maximumHeaderListSize: 1 << 20))
            for item in story {
                let expected = (item["headers"] as! [[String]]).map { ($0[0], $0[1]) }
                #expect(sameFields(try decode(decoder, bytes(hex: item["wire"] as! String)), expected))
                blocks += 1
            }
        }
        #expect(blocks > 500)
    }
}
