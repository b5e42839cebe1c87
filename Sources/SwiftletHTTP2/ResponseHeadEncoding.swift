import SwiftletHPACK
import SwiftletHTTP

/// How a response head or trailers become an HPACK block: names lowercased
/// (RFC 9113 §8.2.1), connection-specific fields dropped (§8.2.2), and for
/// each field how it may enter the dynamic table (RFC 7541 §6.2): secrets
/// never, values that differ per response not, the rest yes. Shared fields
/// (`HTTPFieldList.appendShared`, the same for every response of a file)
/// are prepared once and kept with them. Pure: the engine calls `encode`
/// with its HPACK encoder and output.
enum ResponseHeadEncoding {
    /// How a response field may enter the HPACK dynamic table: secrets
    /// (marked by the handler, or known by name) never; values that differ
    /// per response not; the rest (including `date`, which repeats for a
    /// whole second) yes.
    static func indexing(name: UnsafeRawBufferPointer, valueLength: Int, neverIndexed: Bool) -> HPACKIndexing {
        // RFC 7541 §6.2.3: "Intermediaries MUST use the same representation
        // for encoding this header field", and so must we for a field the
        // handler marked.
        if neverIndexed { return .never }
        switch name.count {
        case 13 where HTTPFieldList.equal(name, HTTPFieldList.span("authorization")):
            return .never
        case 10 where HTTPFieldList.equal(name, HTTPFieldList.span("set-cookie")):
            return .never
        case 4 where HTTPFieldList.equal(name, HTTPFieldList.span("etag")):
            return .none
        case 14 where HTTPFieldList.equal(name, HTTPFieldList.span("content-length")):
            return .none
        case 13 where HTTPFieldList.equal(name, HTTPFieldList.span("last-modified")) || HTTPFieldList.equal(name, HTTPFieldList.span("content-range")):
            return .none
        case 8 where HTTPFieldList.equal(name, HTTPFieldList.span("location")):
            return .none
        case 3 where HTTPFieldList.equal(name, HTTPFieldList.span("age")):
            return .none
        default:
            return valueLength > 256 ? .none : .incremental
        }
    }

    /// Appends to `output` the block of `fields` (lowercasing names where
    /// needed, dropping connection-specific ones) after an optional
    /// `:status`. Shared fields (`HTTPFieldList.appendShared`) go through
    /// their HPACK preparation, made on first use and kept with them.
    static func encode(status: Int?, fields: HTTPFieldList, with encoder: HPACKEncoder, into output: inout HPACKOutput) {
        encoder.beginBlock(into: &output)
        if let status {
            var digits: (UInt8, UInt8, UInt8) = (
                UInt8(ascii: "0") + UInt8(status / 100 % 10), UInt8(ascii: "0") + UInt8(status / 10 % 10),
                UInt8(ascii: "0") + UInt8(status % 10))
            withUnsafeBytes(of: &digits) { value in
                encoder.encode(name: HTTPFieldList.span(":status"), value: value, indexing: .incremental, into: &output)
            }
        }
        if let shared = fields.shared {
            encoder.encode(Self.prepared(shared), into: &output)
        }
        var scratch = [UInt8]()
        let sharedCount = fields.count - fields.ownCount
        for index in 0..<fields.ownCount {
            let field = fields.own(index)
            Self.lowercased(field.name, scratch: &scratch) { name in
                // §8.2.2: connection-specific fields must not be generated.
                if HTTPFieldList.isConnectionSpecific(name) { return }
                encoder.encode(name: name, value: field.value,
                               indexing: Self.indexing(name: name, valueLength: field.value.count,
                                                       neverIndexed: fields.isNeverIndexed(sharedCount + index)),
                               into: &output)
            }
        }
    }

    /// Calls `body` with `name` lowercased (in `scratch` when it has
    /// uppercase letters: HTTP/2 field names are lowercase, §8.2.1).
    @inline(__always)
    static func lowercased(_ name: UnsafeRawBufferPointer, scratch: inout [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
        guard name.contains(where: { ASCII.lowercased($0) != $0 }) else { return body(name) }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: name.lazy.map(ASCII.lowercased))
        scratch.withUnsafeBytes(body)
    }

    /// Appends the block of a response head (`status` and `fields`), as
    /// `encode` does, replaying it from `memo` when the connection kept the
    /// same head at the same encoder state, and keeping it there when the
    /// encoding left that state unchanged (`ResponseHeadMemo`).
    static func encode(status: Int, fields: HTTPFieldList, with encoder: HPACKEncoder, into output: inout HPACKOutput,
                       memo: inout ResponseHeadMemo) {
        let generation = encoder.generation
        if memo.replay(status: status, fields: fields, generation: generation, into: &output) { return }
        let start = output.count
        encode(status: status, fields: fields, with: encoder, into: &output)
        if encoder.generation == generation {
            let block = output.bytes
            memo.keep(status: status, fields: fields, generation: generation,
                      block: UnsafeRawBufferPointer(rebasing: block[start...]))
        }
    }

    /// The HPACK preparation of shared fields: what `encodeBlock` does to
    /// each field (lowercasing, dropping connection-specific ones, choosing
    /// how it is indexed), done once.
    static func prepared(_ fields: HTTPFieldList) -> HPACKPreparedFields {
        if let cached = fields.encodingCache as? HPACKPreparedFields { return cached }
        var builder = HPACKPreparedFields.Builder()
        var scratch = [UInt8]()
        for index in 0..<fields.count {
            let field = fields[index]
            lowercased(field.name, scratch: &scratch) { name in
                if HTTPFieldList.isConnectionSpecific(name) { return }
                builder.append(name: name, value: field.value,
                               indexing: indexing(name: name, valueLength: field.value.count, neverIndexed: fields.isNeverIndexed(index)))
            }
        }
        let prepared = HPACKPreparedFields(builder)
        fields.encodingCache = prepared
        return prepared
    }
}
