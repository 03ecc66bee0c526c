/// Timestamps in the two forms S3 uses, from milliseconds since the Unix epoch, always UTC.
import Foundation

enum HTTPDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Wed, 25 Nov 2026 10:32:29 GMT` (Last-Modified, Date).
    static func rfc1123(ms: Int64) -> String {
        let t = Civil(ms: ms)
        return "\(weekdays[t.weekdayFromThursday]), \(pad(t.day)) \(months[t.month - 1]) \(t.year) "
            + "\(pad(t.hour)):\(pad(t.minute)):\(pad(t.second)) GMT"
    }

    /// `2026-11-25T10:32:29.000Z` (listings).
    static func iso8601(ms: Int64) -> String {
        let t = Civil(ms: ms)
        return "\(t.year)-\(pad(t.month))-\(pad(t.day))T\(pad(t.hour)):\(pad(t.minute)):\(pad(t.second))."
            + pad(t.millisecond, 3) + "Z"
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let s = String(value)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Calendar fields from a timestamp (Howard Hinnant's days-to-civil algorithm).
    private struct Civil {
        var year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millisecond = 0
        var weekdayFromThursday = 0

        init(ms: Int64) {
            let msPerDay: Int64 = 86_400_000
            var days = ms / msPerDay
            var rest = ms % msPerDay
            if rest < 0 {
                rest += msPerDay
                days -= 1
            }
            millisecond = Int(rest % 1000)
            second = Int(rest / 1000 % 60)
            minute = Int(rest / 60_000 % 60)
            hour = Int(rest / 3_600_000)
            weekdayFromThursday = Int(((days % 7) + 7) % 7)
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            day = Int(doy - (153 * mp + 2) / 5 + 1)
            month = Int(mp < 10 ? mp + 3 : mp - 9)
            year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
        }
    }

    /// Seconds since the epoch of an HTTP date: RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`),
    /// RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime (`Sun Nov  6 08:49:37 1994`); nil otherwise.
    static func parseSeconds(_ text: String) -> Int64? {
        let parts = text.replacingOccurrences(of: "-", with: " ").split(separator: " ").map(String.init)
        var day: Int?, month: Int?, year: Int?, time: [Int]?
        for part in parts.dropFirst() {
            if let index = months.firstIndex(of: part) {
                month = index + 1
            } else if part.contains(":") {
                let fields = part.split(separator: ":").compactMap { Int($0) }
                guard fields.count == 3 else { return nil }
                time = fields
            } else if let number = Int(part) {
                if day == nil && number <= 31 && part.count <= 2 { day = number } else if year == nil { year = number }
            }
        }
        guard let day, let month, var year, let time else { return nil }
        if year < 100 { year += year < 70 ? 2000 : 1900 }
        // Header values are client bytes: out-of-range fields are not a date (and would overflow below).
        guard (1...31).contains(day), (1...9999).contains(year), (0...23).contains(time[0]), (0...59).contains(time[1]),
            (0...60).contains(time[2])
        else { return nil }
        return epochSeconds(year: year, month: month, day: day, hour: time[0], minute: time[1], second: time[2])
    }

    /// Seconds since the epoch of SigV4's `x-amz-date` form, `20130524T000000Z`; nil otherwise.
    static func parseAmzDate(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month), (1...31).contains(day),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        return epochSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// Seconds since the epoch of an ISO 8601 UTC time, `2026-11-25T10:32:29Z` with optional
    /// fractional seconds (dropped); nil otherwise.
    static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 40, bytes.last == UInt8(ascii: "Z"), bytes[4] == UInt8(ascii: "-"),
            bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":")
        else { return nil }
        if bytes.count > 20 {
            // `.fff...` between the seconds and the Z.
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 21,
                bytes[20..<(bytes.count - 1)].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { return nil }
        }
        // Rewritten as `yyyyMMddTHHmmssZ`, SigV4's form.
        var compact: [UInt8] = []
        for range in [0..<4, 5..<7, 8..<10, 10..<11, 11..<13, 14..<16, 17..<19] { compact += bytes[range] }
        compact.append(UInt8(ascii: "Z"))
        return parseAmzDate(String(decoding: compact, as: UTF8.self))
    }

    /// Days from civil (Howard Hinnant), the inverse of `Civil`, in seconds.
    private static func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }
}
