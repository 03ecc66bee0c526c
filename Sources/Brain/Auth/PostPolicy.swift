import Foundation

/// The policy document of a browser POST upload (docs: AWS S3 "Creating a POST policy"): base64 of
/// a JSON object with an `expiration` and the `conditions` the form must meet. The signature covers
/// the base64 text, so a form can only do what its policy allows.
struct PostPolicy: Equatable {
    enum Condition: Equatable {
        /// `{"field": "value"}` or `["eq", "$field", "value"]`.
        case equals(field: String, value: String)
        /// `["starts-with", "$field", "prefix"]`; an empty prefix allows any value.
        case startsWith(field: String, prefix: String)
        /// `["content-length-range", min, max]`: the file's size in bytes.
        case contentLengthRange(ClosedRange<Int64>)
    }

    var expirationSeconds: Int64
    var conditions: [Condition]

    /// Fields no condition needs to name: the signature's own, the policy, the file, and `x-ignore-*`.
    static let exemptFields: Set<String> = ["x-amz-signature", "signature", "awsaccesskeyid", "file", "policy"]

    static func invalid(_ why: String) -> S3Error { S3Error(.invalidPolicyDocument, "Invalid Policy: \(why)") }

    init(expirationSeconds: Int64, conditions: [Condition]) {
        self.expirationSeconds = expirationSeconds
        self.conditions = conditions
    }

    /// Decodes the `policy` field.
    init(base64 text: String) throws {
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
            throw Self.invalid("Invalid 'Base64' encoding.")
        }
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Self.invalid("Invalid JSON.")
        }
        guard let expiration = document["expiration"] as? String else {
            throw Self.invalid("Policy missing expiration.")
        }
        guard let seconds = HTTPDate.parseISO8601(expiration) else {
            throw Self.invalid("Invalid 'expiration' value: '\(expiration)'")
        }
        guard let raw = document["conditions"] as? [Any] else { throw Self.invalid("Policy missing conditions.") }
        expirationSeconds = seconds
        conditions = []
        for item in raw {
            if let map = item as? [String: Any] {
                for (name, value) in map {
                    guard let value = value as? String else { throw Self.invalid("Invalid condition value for \(name).") }
                    conditions.append(.equals(field: name.lowercased(), value: value))
                }
                continue
            }
            guard let list = item as? [Any], list.count == 3, let operation = (list[0] as? String)?.lowercased() else {
                throw Self.invalid("Invalid Policy condition: each must be an object or a list of three.")
            }
            switch operation {
            case "eq", "starts-with":
                guard let name = list[1] as? String, name.hasPrefix("$"), let value = list[2] as? String else {
                    throw Self.invalid("Invalid Policy condition: [\(operation), $field, value] expected.")
                }
                let field = name.dropFirst().lowercased()
                conditions.append(operation == "eq" ? .equals(field: field, value: value) : .startsWith(field: field, prefix: value))
            case "content-length-range":
                guard let low = Self.integer(list[1]), let high = Self.integer(list[2]), low >= 0, low <= high else {
                    throw Self.invalid("Invalid content-length-range: two sizes, the first not above the second, expected.")
                }
                conditions.append(.contentLengthRange(low...high))
            default:
                throw Self.invalid("Invalid condition operator \(operation).")
            }
        }
    }

    private static func integer(_ value: Any) -> Int64? {
        if let text = value as? String { return Int64(text) }
        guard let number = value as? NSNumber, let exact = Int64(exactly: number.doubleValue) else { return nil }
        return exact
    }

    /// Checks the form's fields (names lowercased) against the policy at `nowSeconds`; returns the
    /// file sizes it allows (none, when two ranges do not meet). A failure is AccessDenied naming
    /// what failed, as S3 answers.
    func check(_ fields: [String: String], bucket: String, nowSeconds: Int64) throws -> (minimum: Int64, maximum: Int64) {
        guard nowSeconds <= expirationSeconds else { throw Self.denied("Policy expired.") }
        var values = fields
        values["bucket"] = bucket
        var sizes: (minimum: Int64, maximum: Int64) = (0, Int64.max)
        for condition in conditions {
            switch condition {
            case .equals(let field, let value):
                guard values[field] ?? "" == value else {
                    throw Self.denied("Policy Condition failed: [\"eq\", \"$\(field)\", \"\(value)\"]")
                }
            case .startsWith(let field, let prefix):
                let value = values[field] ?? ""
                // A Content-Type may list several types; each must match.
                let parts = field == "content-type" ? value.split(separator: ",").map { $0.trimmingCharacters(in: " ") } : [value[...]]
                guard parts.allSatisfy({ $0.hasPrefix(prefix) }) else {
                    throw Self.denied("Policy Condition failed: [\"starts-with\", \"$\(field)\", \"\(prefix)\"]")
                }
            case .contentLengthRange(let range):
                sizes = (max(sizes.minimum, range.lowerBound), min(sizes.maximum, range.upperBound))
            }
        }
        let named = Set(conditions.compactMap { condition -> String? in
            switch condition {
            case .equals(let field, _), .startsWith(let field, _): return field
            case .contentLengthRange: return nil
            }
        })
        let extra = fields.keys.filter { name in
            !named.contains(name) && !Self.exemptFields.contains(name) && !name.hasPrefix("x-ignore-")
        }
        guard extra.isEmpty else { throw Self.denied("Extra input fields: \(extra.sorted().joined(separator: ", "))") }
        return sizes
    }

    private static func denied(_ why: String) -> S3Error { S3Error(.accessDenied, "Invalid according to Policy: \(why)") }
}
