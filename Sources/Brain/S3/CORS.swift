import Foundation
import HTTPTypes

/// A bucket's CORS configuration (PutBucketCors), and how it answers browsers: a preflight
/// `OPTIONS` is allowed by the first rule whose origin, method and headers all match; an actual
/// request from an allowed origin gets `Access-Control-*` headers on its response.
public struct CORSConfiguration: Sendable, Equatable {
    struct Rule: Sendable, Equatable {
        var id: String?
        var origins: [String]
        var methods: [String]
        var headers: [String]
        var exposeHeaders: [String]
        var maxAgeSeconds: Int?

        func allows(origin: String) -> Bool {
            origins.contains { CORSConfiguration.matches($0, origin) }
        }

        /// Every requested header is matched by an allowed one (case-insensitive).
        func allows(headers requested: [String]) -> Bool {
            requested.allSatisfy { name in headers.contains { CORSConfiguration.matches($0.lowercased(), name.lowercased()) } }
        }
    }

    /// The configuration as the client sent it, re-serialized: what the WAL keeps and GetBucketCors returns.
    public let xml: String
    let rules: [Rule]

    static let rulesMax = 100
    static let bodyBytesMax = 64 << 10
    static let methods: Set<String> = ["GET", "PUT", "POST", "DELETE", "HEAD"]

    /// Parses and checks a CORSConfiguration document (S3's rules: at least one rule, each with an
    /// origin and a method of GET, PUT, POST, DELETE or HEAD; at most one `*` in an origin).
    init(parsing root: XMLNode) throws {
        guard root.name == "CORSConfiguration" else { throw XMLNode.malformed }
        var rules: [Rule] = []
        for node in root.all("CORSRule") {
            let rule = Rule(
                id: node.child("ID")?.trimmedText, origins: node.all("AllowedOrigin").map(\.trimmedText),
                methods: node.all("AllowedMethod").map(\.trimmedText), headers: node.all("AllowedHeader").map(\.trimmedText),
                exposeHeaders: node.all("ExposeHeader").map(\.trimmedText),
                maxAgeSeconds: try node.child("MaxAgeSeconds").map {
                    guard let seconds = Int($0.trimmedText), seconds >= 0 else { throw XMLNode.malformed }
                    return seconds
                })
            guard !rule.origins.isEmpty, !rule.methods.isEmpty else { throw XMLNode.malformed }
            if let method = rule.methods.first(where: { !Self.methods.contains($0) }) {
                throw S3Error(.invalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is \(method)")
            }
            if let origin = rule.origins.first(where: { $0.filter { $0 == "*" }.count > 1 }) {
                throw S3Error(.invalidRequest, "AllowedOrigin \"\(origin)\" can not have more than one wildcard.")
            }
            if let header = rule.headers.first(where: { $0.filter { $0 == "*" }.count > 1 }) {
                throw S3Error(.invalidRequest, "AllowedHeader \"\(header)\" can not have more than one wildcard.")
            }
            rules.append(rule)
        }
        guard (1...Self.rulesMax).contains(rules.count) else { throw XMLNode.malformed }
        self.rules = rules
        self.xml = Self.render(rules)
        // The WAL keeps the text as a short string.
        guard xml.utf8.count <= Int(UInt16.max) else { throw S3Error.invalidArgument("The CORS configuration is too large.") }
    }

    /// A configuration kept in the WAL (written by `render`, so it parses).
    init(text: String) throws {
        try self.init(parsing: try XMLNode.parse(Data(text.utf8)))
    }

    private static func render(_ rules: [Rule]) -> String {
        var xml = XMLWriter()
        xml.open("CORSConfiguration")
        for rule in rules {
            xml.open("CORSRule", namespace: false)
            if let id = rule.id { xml.element("ID", id) }
            for origin in rule.origins { xml.element("AllowedOrigin", origin) }
            for method in rule.methods { xml.element("AllowedMethod", method) }
            for header in rule.headers { xml.element("AllowedHeader", header) }
            for header in rule.exposeHeaders { xml.element("ExposeHeader", header) }
            if let seconds = rule.maxAgeSeconds { xml.element("MaxAgeSeconds", seconds) }
            xml.close("CORSRule")
        }
        xml.close("CORSConfiguration")
        return xml.text
    }

    /// Whether `text` matches `pattern`, whose one `*` (at most one: checked when parsed) stands for
    /// any characters; everything else, `?` included, is literal.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return pattern == text }
        let head = pattern[..<star], tail = pattern[pattern.index(after: star)...]
        return text.count >= head.count + tail.count && text.hasPrefix(head) && text.hasSuffix(tail)
    }

    /// The first rule that allows `origin` to make a `method` request sending `headers`.
    func rule(origin: String, method: String, headers: [String] = []) -> Rule? {
        rules.first { $0.allows(origin: origin) && $0.methods.contains(method) && $0.allows(headers: headers) }
    }

    /// The `Access-Control-*` headers a rule gives a response to `origin` (a preflight also gets
    /// the allowed headers it asked for and the max age).
    static func responseHeaders(_ rule: Rule, origin: String, requestedHeaders: [String]? = nil) -> HTTPFields {
        var fields = HTTPFields()
        let anyOrigin = rule.origins.contains("*")
        fields[.accessControlAllowOrigin] = anyOrigin ? "*" : origin
        if !anyOrigin { fields[.accessControlAllowCredentials] = "true" }
        fields[.accessControlAllowMethods] = rule.methods.joined(separator: ", ")
        if !rule.exposeHeaders.isEmpty { fields[.accessControlExposeHeaders] = rule.exposeHeaders.joined(separator: ", ") }
        if let requestedHeaders {
            if !requestedHeaders.isEmpty { fields[.accessControlAllowHeaders] = requestedHeaders.joined(separator: ", ") }
            if let seconds = rule.maxAgeSeconds { fields[.accessControlMaxAge] = String(seconds) }
        }
        fields[.vary] = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
        return fields
    }

    /// The header names of `Access-Control-Request-Headers`, lower-cased.
    static func requestedHeaders(_ value: String?) -> [String] {
        (value ?? "").split(separator: ",").map { $0.trimmingCharacters().lowercased() }.filter { !$0.isEmpty }
    }
}
