/// Builds the small XML documents S3 answers with, escaping text content.
struct XMLWriter {
    private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    mutating func open(_ name: String, namespace: Bool = true) {
        text += namespace ? "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" : "<\(name)>"
    }

    mutating func close(_ name: String) { text += "</\(name)>" }

    /// Markup written as given (an opening tag with attributes); never client text.
    mutating func raw(_ markup: String) { text += markup }

    mutating func element(_ name: String, _ value: String) {
        text += "<\(name)>" + Self.escape(value) + "</\(name)>"
    }

    mutating func element(_ name: String, _ value: some BinaryInteger) { element(name, String(value)) }

    mutating func element(_ name: String, _ value: Bool) { element(name, value ? "true" : "false") }

    /// The `<CommonPrefixes><Prefix>` elements every listing ends with.
    mutating func commonPrefixes(_ prefixes: [String], encode: (String) -> String) {
        for prefix in prefixes {
            open("CommonPrefixes", namespace: false)
            element("Prefix", encode(prefix))
            close("CommonPrefixes")
        }
    }

    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#13;"
            default:
                // XML 1.0 cannot carry most control characters even escaped; S3 keys rarely hold them.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" {
                    out += "&#\(scalar.value);"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
