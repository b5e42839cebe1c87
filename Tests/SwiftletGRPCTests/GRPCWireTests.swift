import GRPCCore
import HTTPTypes
@testable import SwiftletGRPC
import Testing

@Suite("gRPC over HTTP/2: Length-Prefixed-Message")
struct GRPCMessageFramingTests {
    @Test("a message behind its 5-byte prefix: flag 0, big-endian length")
    func frame() {
        #expect(GRPCMessageFraming.frame([7, 8, 9]) == [0, 0, 0, 0, 3, 7, 8, 9])
        #expect(GRPCMessageFraming.frame([UInt8](repeating: 1, count: 0x01_02_03)).prefix(5) == [0, 0, 1, 2, 3])
        #expect(GRPCMessageFraming.frame([UInt8]()) == [0, 0, 0, 0, 0])
    }

    @Test("messages come out whole however the stream is cut: byte by byte, several in one chunk, an empty one")
    func deframe() throws {
        let stream = GRPCMessageFraming.frame(Array("one".utf8)) + GRPCMessageFraming.frame([UInt8]())
            + GRPCMessageFraming.frame(Array("three".utf8))
        var byByte = GRPCMessageDeframer(maximumMessageSize: 100)
        var messages: [[UInt8]] = []
        for byte in stream {
            byByte.append([byte])
            while let message = try byByte.next() { messages.append(message) }
        }
        #expect(messages == [Array("one".utf8), [], Array("three".utf8)])
        #expect(byByte.isEmpty)
        var whole = GRPCMessageDeframer(maximumMessageSize: 100)
        whole.append(stream)
        #expect(try whole.next() == Array("one".utf8))
        #expect(try whole.next() == [])
        #expect(try whole.next() == Array("three".utf8))
        #expect(try whole.next() == nil && whole.isEmpty)
    }

    @Test("a stream that stops inside a message is not empty")
    func cutOff() throws {
        var deframer = GRPCMessageDeframer(maximumMessageSize: 100)
        deframer.append(GRPCMessageFraming.frame([1, 2, 3]).dropLast())
        #expect(try deframer.next() == nil)
        #expect(!deframer.isEmpty)
    }

    @Test("refused from the prefix alone: a compressed message, a length over the limit, a flag that is neither 0 nor 1")
    func refused() {
        var compressed = GRPCMessageDeframer(maximumMessageSize: 100)
        compressed.append([1, 0, 0, 0, 1])
        #expect(throws: GRPCMessageDeframer.Failure.compressed) { try compressed.next() }
        var large = GRPCMessageDeframer(maximumMessageSize: 100)
        large.append([0, 0, 0, 0, 101])
        #expect(throws: GRPCMessageDeframer.Failure.tooLarge(101)) { try large.next() }
        var flag = GRPCMessageDeframer(maximumMessageSize: 100)
        flag.append([2, 0, 0, 0, 0])
        #expect(throws: GRPCMessageDeframer.Failure.badFlag(2)) { try flag.next() }
    }
}

@Suite("gRPC over HTTP/2: paths, metadata, status message")
struct GRPCHeadTests {
    @Test("\"/\" Service-Name \"/\" {method name}", arguments: [
        ("/echo.Echo/Get", "echo.Echo", "Get"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check"),
    ])
    func path(path: String, service: String, method: String) {
        let descriptor = GRPCServerCall.methodDescriptor(path: path)
        #expect(descriptor == MethodDescriptor(fullyQualifiedService: service, method: method))
    }

    @Test("paths that name no method", arguments: ["/", "//Get", "/echo.Echo/", "echo.Echo/Get", "/a/b/c", "/echo.Echo"])
    func badPath(path: String) {
        #expect(GRPCServerCall.methodDescriptor(path: path) == nil)
    }

    @Test("request metadata: strings as they are, -bin values base64-decoded (padded or not), transport fields left out")
    func requestMetadata() throws {
        let fields: HTTPFields = [
            .contentType: "application/grpc", .te: "trailers", HTTPField.Name("grpc-timeout")!: "1S",
            HTTPField.Name("x-user")!: "ada", HTTPField.Name("x-key-bin")!: "AAEC/w", HTTPField.Name("x-pad-bin")!: "AAEC/w==",
        ]
        let metadata = try GRPCMetadataCoding.metadata(from: fields)
        #expect(Array(metadata[stringValues: "x-user"]) == ["ada"])
        #expect(Array(metadata[stringValues: "grpc-timeout"]) == ["1S"])
        #expect(Array(metadata[binaryValues: "x-key-bin"]) == [[0, 1, 2, 255]])
        #expect(Array(metadata[binaryValues: "x-pad-bin"]) == [[0, 1, 2, 255]])
        #expect(metadata[stringValues: "content-type"].first(where: { _ in true }) == nil)
        #expect(metadata[stringValues: "te"].first(where: { _ in true }) == nil)
    }

    @Test("a -bin value that is not base64 is named")
    func badBinary() {
        let fields: HTTPFields = [HTTPField.Name("x-key-bin")!: "not base64!"]
        #expect(throws: GRPCMetadataCoding.InvalidBinaryValue.self) { try GRPCMetadataCoding.metadata(from: fields) }
    }

    @Test("base64 both ways, at every length's padding")
    func base64() {
        for length in 0..<8 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 97 + 13) }
            let text = Base64.encode(bytes)
            #expect(!text.contains("="), "unpadded, as the spec asks")
            #expect(Base64.decode(text) == bytes)
        }
        #expect(Base64.encode(Array("Man".utf8)) == "TWFu" && Base64.encode(Array("Ma".utf8)) == "TWE")
        #expect(Base64.decode("TWE=") == Array("Ma".utf8))
        #expect(Base64.decode("T") == nil && Base64.decode("TW=a") == nil && Base64.decode("TW E") == nil)
    }

    @Test("response metadata: binary values go out base64, strings as they are")
    func responseMetadata() {
        var fields = HTTPFields()
        GRPCMetadataCoding.append(["x-user": "ada", "x-key-bin": .binary([0, 1, 2, 255])], to: &fields)
        #expect(fields[HTTPField.Name("x-user")!] == "ada")
        #expect(fields[HTTPField.Name("x-key-bin")!] == "AAEC/w")
    }

    @Test("grpc-message is percent-encoded outside 0x20–0x7E and for %")
    func statusMessage() {
        #expect(GRPCMetadataCoding.percentEncoded("no such word") == "no such word")
        #expect(GRPCMetadataCoding.percentEncoded("100% ☃\n") == "100%25 %E2%98%83%0A")
        let fields = statusFields(Status(code: .notFound, message: "gone"), metadata: ["x-a": "b"])
        #expect(fields[GRPCFieldNames.status] == "5" && fields[GRPCFieldNames.message] == "gone" && fields[HTTPField.Name("x-a")!] == "b")
        #expect(statusFields(Status(code: .ok, message: ""), metadata: [:])[GRPCFieldNames.message] == nil)
    }
}
