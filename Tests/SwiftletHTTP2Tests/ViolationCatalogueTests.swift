import Foundation
import SwiftletHPACK
@testable import SwiftletHTTP2
import Testing

/// The rejection catalogue and its documentation.
@Suite("Rejection catalogue")
struct ViolationCatalogueTests {
    static let begin = "<!-- rejections: generated from Violation; ViolationCatalogueTests checks it -->"
    static let end = "<!-- end of rejections -->"

    static var expectedTable: String {
        (["| token | error code | ends | rule |", "| --- | --- | --- | --- |"] + Violation.allCases.map(\.documentationRow))
            .joined(separator: "\n")
    }

    @Test("docs/architecture.md lists every violation with its code, scope and section")
    func documentationMatches() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/architecture.md").standardizedFileURL
        let text = try String(contentsOf: docs, encoding: .utf8)
        let start = try #require(text.range(of: Self.begin), "docs/architecture.md has no rejections table")
        let stop = try #require(text.range(of: Self.end, range: start.upperBound..<text.endIndex))
        let table = text[start.upperBound..<stop.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(table == Self.expectedTable, "docs/architecture.md's table is stale; it should read:\n\(Self.expectedTable)")
    }

    @Test("stream errors carry codes a stream may be reset with; floods are ENHANCE_YOUR_CALM connection errors")
    func codesFitScopes() {
        for violation in Violation.allCases where violation.scope == .stream {
            #expect([ErrorCode.protocolError, .streamClosed, .refusedStream, .flowControlError, .frameSizeError, .internalError]
                .contains(violation.code), "\(violation)")
        }
        for violation in Violation.allCases where violation.code == .enhanceYourCalm {
            #expect(violation.scope == .connection, "\(violation)")
        }
        #expect(Violation.allCases.allSatisfy { $0.section.hasPrefix("RFC ") })
    }

    @Test("every HPACK decoding error maps to its own COMPRESSION_ERROR entry")
    func hpackErrors() {
        let errors: [HPACKError] = [.truncated, .integerOverflow, .invalidIndex(0), .stringTooLong(length: 2, limit: 1), .huffmanEOS,
                                    .huffmanPadding, .headerListTooLarge(limit: 1), .tooManyFields(limit: 1), .sizeUpdateNotAtStart,
                                    .sizeUpdateTooLarge(size: 2, limit: 1), .sizeUpdateMissing]
        let mapped = errors.map { Violation($0) }
        #expect(Set(mapped).count == errors.count)
        for (error, violation) in zip(errors, mapped) {
            #expect(violation.token == error.token && violation.code == .compressionError)
        }
    }
}
