/// Turns a request target into a path relative to the document root.
///
/// The query is dropped; the path is percent-decoded once (so "%2e%2e" is
/// "..", and "%2F" separates segments like "/"); "." and ".." segments are
/// resolved, and a ".." that would climb above the root makes the path
/// invalid: a request that tries to escape is refused, never clamped into
/// something else. A decoded NUL is refused.
struct RequestPath {
    enum Problem: Error, Equatable {
        case invalidEncoding
        case nul
        case escapesRoot
        case notAbsolute
    }

    /// Normalizes `target` into `output` (no leading slash, segments joined
    /// by "/"); returns whether the original path ended with "/".
    /// `decoded` is scratch space (kept by the caller to avoid allocating).
    static func normalize(_ target: UnsafeRawBufferPointer, into output: inout [UInt8],
                          scratch decoded: inout [UInt8]) -> Result<Bool, Problem> {
        if let plain = plainPath(target) {
            output.removeAll(keepingCapacity: true)
            output.append(contentsOf: plain.path)
            return .success(plain.trailingSlash)
        }
        return normalizeSegments(target, into: &output, scratch: &decoded)
    }

    /// The normalized path of `target`, within `target` itself, when it
    /// needs none of `normalize`'s work: no escape, no NUL, no empty, "."
    /// or ".." segment (any "/." counts, dot files included). Then the
    /// result is the path without its leading "/", its trailing one, and
    /// the query, found in one scan. Nil when it takes the long way.
    static func plainPath(_ target: UnsafeRawBufferPointer) -> (path: UnsafeRawBufferPointer, trailingSlash: Bool)? {
        guard target.count > 0, target[0] == UInt8(ascii: "/") else { return nil }
        var end = target.count
        var index = 0
        while index < target.count {
            let byte = target[index]
            if byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") {
                end = index
                break
            }
            if byte == UInt8(ascii: "%") || byte == 0 { return nil }
            if byte == UInt8(ascii: "/"), index + 1 < target.count,
               target[index + 1] == UInt8(ascii: "/") || target[index + 1] == UInt8(ascii: ".") {
                return nil
            }
            index += 1
        }
        let trailingSlash = target[end - 1] == UInt8(ascii: "/")
        let stop = max(1, end - (trailingSlash ? 1 : 0))
        return (UnsafeRawBufferPointer(rebasing: target[1..<stop]), trailingSlash)
    }

    /// `normalize` the long way: percent-decoding, then segment by segment.
    static func normalizeSegments(_ target: UnsafeRawBufferPointer, into output: inout [UInt8],
                                  scratch decoded: inout [UInt8]) -> Result<Bool, Problem> {
        output.removeAll(keepingCapacity: true)
        decoded.removeAll(keepingCapacity: true)
        var end = target.count
        for index in 0..<target.count where target[index] == UInt8(ascii: "?") || target[index] == UInt8(ascii: "#") {
            end = index
            break
        }
        guard end > 0, target[0] == UInt8(ascii: "/") else { return .failure(.notAbsolute) }
        // Percent-decode once.
        var index = 0
        while index < end {
            let byte = target[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < end,
                      let high = hex(target[index + 1]), let low = hex(target[index + 2]) else {
                    return .failure(.invalidEncoding)
                }
                let value = high << 4 | low
                guard value != 0 else { return .failure(.nul) }
                decoded.append(value)
                index += 3
            } else {
                guard byte != 0 else { return .failure(.nul) }
                decoded.append(byte)
                index += 1
            }
        }
        let trailingSlash = decoded.last == UInt8(ascii: "/")
        // Resolve segments straight into `output`: ".." removes the last one.
        var start = 0
        for position in 0...decoded.count {
            guard position == decoded.count || decoded[position] == UInt8(ascii: "/") else { continue }
            let segment = start..<position
            start = position + 1
            if segment.isEmpty { continue }
            if segment.count == 1 && decoded[segment.lowerBound] == UInt8(ascii: ".") { continue }
            if segment.count == 2 && decoded[segment.lowerBound] == UInt8(ascii: ".") && decoded[segment.lowerBound + 1] == UInt8(ascii: ".") {
                guard !output.isEmpty else { return .failure(.escapesRoot) }
                while let last = output.popLast(), last != UInt8(ascii: "/") {}
                continue
            }
            if !output.isEmpty { output.append(UInt8(ascii: "/")) }
            output.append(contentsOf: decoded[segment])
        }
        return .success(trailingSlash)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
