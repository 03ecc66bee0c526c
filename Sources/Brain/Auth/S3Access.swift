/// Who may use the S3 API: signed requests checked against the root key (and, later, the keys in
/// the metadata), or, only when an operator asks for it by name, anyone at all.
public enum S3Access: Sendable {
    /// `allowSigV2` false (`--sigv2 off`) refuses SigV2 signatures, naming SigV4.
    case signed(root: AccessKey, allowSigV2: Bool)
    /// `--insecure-no-auth`: every request is served as the root key's.
    case insecureNoAuth

    var rootAccessKeyID: String? {
        if case .signed(let root, _) = self { return root.accessKeyID }
        return nil
    }

    /// The keys requests may sign with; nil with `--insecure-no-auth`.
    func keyDirectory(metadata: MetadataStore) -> KeyDirectory? {
        if case .signed(let root, _) = self { return KeyDirectory(root: root, metadata: metadata) }
        return nil
    }

    func authenticator(metadata: MetadataStore) -> RequestAuthenticator? {
        guard case .signed(_, let allowSigV2) = self, let keys = keyDirectory(metadata: metadata) else { return nil }
        return RequestAuthenticator(keys: keys, allowSigV2: allowSigV2)
    }
}
