import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HummingbirdCore
import NIOCore

/// A parsed XML request body (CompleteMultipartUpload, Delete): just elements, text and children.
struct XMLNode {
    var name: String
    var text = ""
    var children: [XMLNode] = []

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    static let malformed = S3Error(
        .badRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")

    /// Reads at most `bytesMax` of `body` and parses it; MalformedXML when it is not XML or too long.
    static func parse(_ body: RequestBody, bytesMax: Int) async throws -> (XMLNode, Data) {
        var collected = ByteBuffer()
        for try await var piece in body {
            guard collected.readableBytes + piece.readableBytes <= bytesMax else { throw malformed }
            collected.writeBuffer(&piece)
        }
        let data = Data(collected.readableBytesView)
        return (try parse(data), data)
    }

    static func parse(_ data: Data) throws -> XMLNode {
        // Foundation's parser traps on some invalid UTF-8 (found by fuzzing), and S3 bodies are UTF-8:
        // anything else is refused before it reaches the parser.
        guard let text = String(validating: data, as: UTF8.self) else { throw malformed }
        if let declarationEnd = text.range(of: "?>"), text.hasPrefix("<?xml") {
            let declaration = text[..<declarationEnd.lowerBound].lowercased()
            if declaration.contains("encoding"), !declaration.contains("utf-8") { throw malformed }
        }
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        parser.shouldResolveExternalEntities = false
        guard parser.parse(), let root = builder.root else { throw malformed }
        return root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        /// Deeper documents are not S3 requests; refusing them bounds the parser's work.
        static let depthMax = 16

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            guard stack.count < Self.depthMax else { return parser.abortParsing() }
            stack.append(XMLNode(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard var node = stack.popLast() else { return }
            node.text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }
    }
}
