/// Timestamps in the two forms S3 uses, from milliseconds since the Unix epoch, always UTC.
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
}
