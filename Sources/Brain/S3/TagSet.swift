import HTTPTypes

/// A set of object or bucket tags (docs: AWS S3 "Categorizing your storage using tags"): from an
/// `x-amz-tagging` header or a `<Tagging>` body, checked against S3's limits, kept in the metadata
/// as URL query text (`k1=v1&k2=v2`, each part percent-encoded, in the order given) and shown as XML.
struct TagSet: Equatable {
    struct Tag: Equatable {
        var key: String
        var value: String
    }

    var tags: [Tag] = []

    /// S3's limits: tags per object and per bucket, and the length of a key and of a value in characters.
    static let objectTagsMax = 10
    static let bucketTagsMax = 50
    static let keyCharactersMax = 128
    static let valueCharactersMax = 256

    static let header = HTTPField.Name("x-amz-tagging")!
    static let directiveHeader = HTTPField.Name("x-amz-tagging-directive")!
    static let countHeader = HTTPField.Name("x-amz-tagging-count")!

    /// The tags of a request's `x-amz-tagging` header (nil without one), checked for an object.
    static func fromHeader(_ headers: HTTPFields) throws -> TagSet? {
        guard let text = headers[header] else { return nil }
        guard let tags = TagSet(queryText: text) else {
            throw S3Error.invalidArgument(
                "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
        }
        try tags.check(tagsMax: objectTagsMax)
        return tags
    }

    /// Parses URL query text (a missing `=` is an empty value); nil when it is not valid
    /// percent-encoded UTF-8. `+` is a space, as form encoding (and aws-cli's --tagging) has it.
    init?(queryText: String) {
        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? {
                PercentEncoding.decode(String(decoding: text.utf8.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self))
            }
            guard let key = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
            tags.append(Tag(key: key, value: value))
        }
    }

    init(tags: [Tag] = []) {
        self.tags = tags
    }

    /// The tags of a `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>` body.
    init(xml root: XMLNode) throws {
        guard root.name == "Tagging", let set = root.child("TagSet") else { throw XMLNode.malformed }
        tags = try set.all("Tag").map { tag in
            guard let key = tag.child("Key")?.text, let value = tag.child("Value")?.text else { throw XMLNode.malformed }
            return Tag(key: key, value: value)
        }
    }

    /// Refuses what S3 refuses: too many tags, an empty or too long key, a too long value, a key
    /// given twice, a key in the reserved `aws:` namespace.
    func check(tagsMax: Int) throws {
        guard tags.count <= tagsMax else {
            throw S3Error(.invalidTag, tagsMax == Self.objectTagsMax ? "Object tags cannot be greater than \(tagsMax)" : "Bucket tag count cannot be greater than \(tagsMax)")
        }
        var seen = Set<String>()
        for tag in tags {
            guard !tag.key.isEmpty, tag.key.count <= Self.keyCharactersMax else {
                throw S3Error(.invalidTag, "The TagKey you have provided is invalid: 1 to \(Self.keyCharactersMax) characters")
            }
            guard tag.value.count <= Self.valueCharactersMax else {
                throw S3Error(.invalidTag, "The TagValue you have provided is too long, max \(Self.valueCharactersMax)")
            }
            guard !tag.key.lowercased().hasPrefix("aws:") else {
                throw S3Error(.invalidTag, "Your TagKey cannot be prefixed with aws:")
            }
            guard seen.insert(tag.key).inserted else {
                throw S3Error(.invalidTag, "Cannot provide multiple Tags with the same key")
            }
        }
    }

    /// The URL query text the metadata keeps.
    var queryText: String {
        tags.map { PercentEncoding.encode($0.key, keepSlash: false) + "=" + PercentEncoding.encode($0.value, keepSlash: false) }
            .joined(separator: "&")
    }

    /// A GetObjectTagging or GetBucketTagging answer.
    var xml: String {
        var xml = XMLWriter()
        xml.open("Tagging")
        xml.open("TagSet", namespace: false)
        for tag in tags {
            xml.open("Tag", namespace: false)
            xml.element("Key", tag.key)
            xml.element("Value", tag.value)
            xml.close("Tag")
        }
        xml.close("TagSet")
        xml.close("Tagging")
        return xml.text
    }
}
