/// The Range header (RFC 9110 §14.1-§14.2), bytes unit only.
enum ByteRange {
    enum Outcome: Equatable {
        /// No usable Range header: send the whole representation.
        case whole
        /// One or more satisfiable ranges (inclusive bounds), coalesced and in order.
        case ranges([ClosedRange<Int>])
        /// "If all of the ranges are unsatisfiable, the server SHOULD send 416".
        case unsatisfiable
    }

    /// Most ranges honoured in one request; more (a classic amplification
    /// trick) are answered with the whole file.
    static let maximumRanges = 16

    static func parse(_ value: UnsafeRawBufferPointer, size: Int) -> Outcome {
        let text = String(decoding: value, as: UTF8.self)
        guard text.hasPrefix("bytes=") else { return .whole }  // unknown unit: ignore (§14.2)
        var ranges: [ClosedRange<Int>] = []
        var count = 0
        for part in text.dropFirst(6).split(separator: ",", omittingEmptySubsequences: false) {
            count += 1
            guard count <= maximumRanges else { return .whole }
            let spec = part.trimmingCharacters(in: " \t")
            guard let dash = spec.firstIndex(of: "-") else { return .whole }  // invalid: ignore the header
            let first = spec[spec.startIndex..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                // Suffix range: the last N bytes.
                guard let length = Int(last), length >= 0 else { return .whole }
                if length == 0 || size == 0 { continue }
                ranges.append(max(0, size - length)...(size - 1))
            } else {
                guard let start = Int(first), start >= 0 else { return .whole }
                var end = size - 1
                if !last.isEmpty {
                    guard let value = Int(last), value >= start else { return .whole }
                    end = min(value, size - 1)
                }
                if start >= size { continue }  // unsatisfiable, others may not be
                ranges.append(start...end)
            }
        }
        guard !ranges.isEmpty else { return .unsatisfiable }
        // Coalesce overlapping or adjacent ranges (§14.2 allows it).
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<Int>] = [ranges[0]]
        for range in ranges.dropFirst() {
            if range.lowerBound <= merged[merged.count - 1].upperBound + 1 {
                merged[merged.count - 1] = merged[merged.count - 1].lowerBound...max(range.upperBound, merged[merged.count - 1].upperBound)
            } else {
                merged.append(range)
            }
        }
        return .ranges(merged)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var result = self
        while let first = result.first, set.contains(first) { result = result.dropFirst() }
        while let last = result.last, set.contains(last) { result = result.dropLast() }
        return result
    }
}
