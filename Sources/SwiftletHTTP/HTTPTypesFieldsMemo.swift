import HTTPTypes

/// The swift-http-types fields of the last few request heads converted,
/// handed out again when a request carries the same fields.
///
/// Converting a field list costs a `String` per name and value, checked by
/// swift-http-types, and an `HTTPFields` built one field at a time: for
/// three fields, about a third of the instructions a whole small HTTP/2
/// request takes with a callback handler. A client sends the same
/// regular fields on request after request (`user-agent`, `accept`,
/// `accept-encoding`; over HTTP/2 the path and authority are
/// pseudo-headers, not fields), so a match found by comparing bytes is
/// cheaper than a conversion. `HTTPFields` is a value: a handler that
/// changes its copy changes nothing here.
///
/// A list is kept as its bytes: for each field the name's and the value's
/// lengths, the never-indexed mark, the name and the value. Lists larger
/// than `maximumKeyBytes` (long cookies) are converted every time and not
/// kept, so the memo stays small and a miss stays cheap.
///
/// Confined to one loop, like the handler that owns it.
public final class HTTPTypesFieldsMemo {
    struct Entry {
        var key: [UInt8]
        var skippingHost: Bool
        var fields: HTTPFields
    }

    /// Lists kept, the most recently used first.
    public static let capacity = 4
    /// Bytes of the longest list kept (names, values and 5 bytes a field).
    public static let maximumKeyBytes = 2048

    // Private stored properties, so Swift can leave out the run-time
    // exclusivity checks a public one needs. One check on `entries` stays:
    // dropping an entry releases fields, code it cannot see.
    private var entries: [Entry] = []
    private var hitCount = 0
    private var missCount = 0
    /// Conversions saved (for tests and benchmarks).
    public var hits: Int { hitCount }
    /// Conversions done.
    public var misses: Int { missCount }

    public init() {}

    /// `list` as swift-http-types fields (a `host` field left out when
    /// `skippingHost`), from the memo when one kept has the same bytes.
    func fields(of list: HTTPFieldList, skippingHost: Bool) throws(HTTPTypesConversionError) -> HTTPFields {
        for index in entries.indices where entries[index].skippingHost == skippingHost {
            let key = entries[index].key  // a copy: no access to `entries` spans the comparison
            let found = key.withUnsafeBytes { Self.list(list, matches: $0) }
            if found {
                hitCount &+= 1
                if index != 0 {
                    let entry = entries.remove(at: index)
                    entries.insert(entry, at: 0)
                }
                return entries[0].fields
            }
        }
        missCount &+= 1
        let fields = try list.httpTypesFields(skippingHost: skippingHost)
        if let key = Self.key(of: list) {
            if entries.count == Self.capacity { entries.removeLast() }
            entries.insert(Entry(key: key, skippingHost: skippingHost, fields: fields), at: 0)
        }
        return fields
    }

    /// The bytes a list is kept as, or nil when they exceed `maximumKeyBytes`.
    static func key(of list: HTTPFieldList) -> [UInt8]? {
        let size = list.byteCount + 5 * list.count
        guard size <= maximumKeyBytes else { return nil }
        var key = [UInt8]()
        key.reserveCapacity(size)
        for index in 0..<list.count {
            let field = list[index]
            key.append(UInt8(truncatingIfNeeded: field.name.count))
            key.append(UInt8(truncatingIfNeeded: field.name.count >> 8))
            key.append(UInt8(truncatingIfNeeded: field.value.count))
            key.append(UInt8(truncatingIfNeeded: field.value.count >> 8))
            key.append(list.isNeverIndexed(index) ? 1 : 0)
            key.append(contentsOf: field.name)
            key.append(contentsOf: field.value)
        }
        return key
    }

    /// Whether `list`'s fields are exactly the ones `key` holds, in order.
    static func list(_ list: HTTPFieldList, matches key: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        for index in 0..<list.count {
            let field = list[index]
            let nameCount = field.name.count, valueCount = field.value.count
            guard offset + 5 + nameCount + valueCount <= key.count,
                  key[offset] == UInt8(truncatingIfNeeded: nameCount),
                  key[offset + 1] == UInt8(truncatingIfNeeded: nameCount >> 8),
                  key[offset + 2] == UInt8(truncatingIfNeeded: valueCount),
                  key[offset + 3] == UInt8(truncatingIfNeeded: valueCount >> 8),
                  key[offset + 4] == (list.isNeverIndexed(index) ? 1 : 0)
            else { return false }
            offset += 5
            guard HTTPFieldList.equal(UnsafeRawBufferPointer(rebasing: key[offset..<offset + nameCount]), field.name)
            else { return false }
            offset += nameCount
            guard HTTPFieldList.equal(UnsafeRawBufferPointer(rebasing: key[offset..<offset + valueCount]), field.value)
            else { return false }
            offset += valueCount
        }
        return offset == key.count
    }
}
