import CLibXML2
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// A parsed XML request body (CompleteMultipartUpload, Delete): just elements, text and children.
struct XMLNode {
    var name: String
    /// The element's own text, exactly as sent (an object key may begin or end with spaces).
    var text = ""
    var children: [XMLNode] = []

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    static let malformed = S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema")

    /// Reads at most `bytesMax` of the request's body, checks it against the digests its headers
    /// declare (Content-MD5, x-amz-content-sha256, and x-amz-checksum-* unless `checksumHeadersAreTheBody`
    /// is false: CompleteMultipartUpload's describe the object), and parses it; MalformedXML when it is
    /// not XML or too long. An aws-chunked XML body is refused: no client sends one.
    static func parse(_ request: Request, bytesMax: Int, checksumHeadersAreTheBody: Bool = true) async throws -> XMLNode {
        if request.headers[.amzContentSHA256]?.hasPrefix("STREAMING-") == true {
            throw S3Error(.invalidRequest, "This request's body cannot be sent aws-chunked.")
        }
        var headers = request.headers
        if !checksumHeadersAreTheBody {
            for algorithm in ChecksumAlgorithm.allCases { headers[algorithm.headerField] = nil }
            headers[.amzSDKChecksumAlgorithm] = nil
        }
        var digests = BodyDigests(try BodyDigests.expectations(from: headers))
        var collected = ByteBuffer()
        for try await var piece in request.body {
            guard collected.readableBytes + piece.readableBytes <= bytesMax else { throw malformed }
            collected.writeBuffer(&piece)
        }
        collected.withUnsafeReadableBytes { digests.update($0) }
        _ = try digests.verify()
        return try parse(Data(collected.readableBytesView))
    }

    static func parse(_ data: Data) throws -> XMLNode {
        // S3 bodies are UTF-8; the parser is told so, whatever a declaration inside claims.
        guard let text = String(validating: data, as: UTF8.self), data.count < Int32.max else { throw malformed }
        if let declarationEnd = text.range(of: "?>"), text.hasPrefix("<?xml") {
            let declaration = text[..<declarationEnd.lowerBound].lowercased()
            if declaration.contains("encoding"), !declaration.contains("utf-8") { throw malformed }
        }
        guard let context = xmlNewParserCtxt() else { throw malformed }
        defer { xmlFreeParserCtxt(context) }
        // Errors are answered with MalformedXML; libxml2 must not print them or hand them to a global handler.
        context.pointee.sax.pointee.serror = { _, _ in }
        let options = XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOCDATA.rawValue
        let document = data.withUnsafeBytes { bytes in
            xmlCtxtReadMemory(
                context, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil, "UTF-8",
                Int32(bitPattern: options))
        }
        guard let document else { throw malformed }
        defer { xmlFreeDoc(document) }
        // No S3 request carries a DTD; refusing one rules out entity tricks altogether.
        guard document.pointee.intSubset == nil, let root = xmlDocGetRootElement(document) else { throw malformed }
        return try node(root, depth: 1)
    }

    /// Deeper documents are not S3 requests; refusing them bounds the work done on the tree.
    static let depthMax = 16

    private static func node(_ element: xmlNodePtr, depth: Int) throws -> XMLNode {
        guard depth <= depthMax, let name = element.pointee.name else { throw malformed }
        var node = XMLNode(name: String(cString: name))
        var next = element.pointee.children
        while let child = next {
            switch child.pointee.type {
            case XML_ELEMENT_NODE: node.children.append(try self.node(child, depth: depth + 1))
            case XML_TEXT_NODE: if let content = child.pointee.content { node.text += String(cString: content) }
            default: break  // comments and processing instructions carry nothing for S3
            }
            next = child.pointee.next
        }
        return node
    }
}
