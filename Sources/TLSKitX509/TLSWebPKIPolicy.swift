public import Foundation
import SwiftASN1
public import TLSKit
import X509

extension TLSContextHooks {
    /// Hooks with the Web PKI profile as their one verification policy (see
    /// ``TLSVerificationPolicy/webPKI(verificationTime:)``). To combine it with other
    /// policies, use `hooks.addVerificationPolicy(.webPKI())` instead.
    public static func webPKI(verificationTime: Date? = nil, logger: TLSContextHooks = TLSContextHooks()) -> TLSContextHooks {
        var hooks = logger
        hooks.addVerificationPolicy(.webPKI(verificationTime: verificationTime))
        return hooks
    }
}

extension TLSVerificationPolicy {
    /// The Web PKI profile: after the backend's own verification (an RFC 5280 path check
    /// that, for OpenSSL, accepts much the Web PKI forbids), the verified chain is checked
    /// again with swift-certificates' verifier and policies — RFC 5280 rules, the server
    /// identity (subjectAltName only), and the profile rules: the leaf must carry an
    /// extended key usage that allows this use, must not be a CA, must be X.509 v3 and must
    /// have a subjectAltName. It needs a chain the backend verified: with chain
    /// verification switched off, or with pinned keys, it rejects.
    ///
    /// - Parameter verificationTime: the time to verify at (default: now).
    /// - Note: swift-certificates' verifier is `async`, so this is an asynchronous policy
    ///   (`TLSVerificationPolicy(name:evaluateAsync:)`): where the driver suspends the
    ///   handshake for it (`TLSChannelHandler` and `TLSStream` on clients, and on GnuTLS
    ///   servers), no thread waits; elsewhere (OpenSSL servers, the blocking `TLSSocket`,
    ///   sans-I/O drivers that did not opt in) the calling thread waits while it runs on
    ///   TLSKit's verifier thread.
    public static func webPKI(verificationTime: Date? = nil) -> TLSVerificationPolicy {
        TLSVerificationPolicy(name: "webPKI") { request in await TLSWebPKI.evaluateAsync(request, at: verificationTime) }
    }
}

/// The Web PKI profile, as a peer-verification hook (see ``TLSKit/TLSContextHooks/webPKI(verificationTime:logger:)``).
///
/// The profile builds its own path: from the leaf the peer presented, through the
/// certificates it presented (and any the backend added), to the trust anchor the backend
/// verified the chain to. It then applies RFC 5280 (version, validity, basic and name
/// constraints; see `TLSWebPKIRFC5280Policy`), the server identity (swift-certificates'
/// `ServerIdentityPolicy`: subjectAltName only) and these rules (CA/Browser Forum baseline
/// requirements, RFC 5280 "MUST"s a path check leaves out):
///
/// - every extension the profile reads decodes; an authority information access extension
///   holds at least one access description;
/// - serial numbers are positive and at most 20 octets;
/// - RSA keys have at least 2048 bits, a multiple of 8;
/// - every certificate but a self-issued trust anchor has an authority key identifier; any
///   authority key identifier carries a keyIdentifier and nothing else, and a self-signed
///   root's equals its subject key identifier;
/// - CA certificates have a non-empty subject, a subject key identifier and a critical
///   basicConstraints; the root has no extended key usage;
/// - policyConstraints are critical; name constraints have a permitted or an excluded
///   subtree, their dNSName constraints are host names, and no wildcard subjectAltName of
///   the leaf covers an excluded dNSName (CVE-2025-61727);
/// - the leaf: X.509 v3, not a CA, no keyCertSign, no name constraints, a non-critical
///   extended key usage that names the purpose and not anyExtendedKeyUsage, a
///   subjectAltName (critical exactly when the subject is empty), and a common name, if
///   any, in ASCII and, when it is an IP address or a case variant of a subjectAltName,
///   exactly that subjectAltName's text.
public enum TLSWebPKI {
    /// Checks `request`'s chain against the profile; the verdict for the hook. Rejection
    /// texts start with "Web PKI profile: " and name the rule.
    /// - Parameters:
    ///   - request: what the backend verified, as a policy sees it.
    ///   - time: the time to verify at; `nil`: now.
    ///
    /// Waits (on TLSKit's verifier thread) for swift-certificates' asynchronous verifier; from
    /// async code call ``evaluateAsync(_:at:)`` instead.
    public static func evaluate(_ request: TLSPeerVerificationRequest, at time: Date?) -> TLSPeerVerificationDecision {
        TLSVerifierThread.shared.runBlocking { await evaluateAsync(request, at: time) }
            ?? .reject("Web PKI profile: the check cannot wait for itself on TLSKit's verifier thread")
    }

    /// Checks `request`'s chain against the profile without blocking a thread; the verdict
    /// for an asynchronous policy. Rejection texts start with "Web PKI profile: " and name the rule.
    /// - Parameters:
    ///   - request: what the backend verified, as a policy sees it.
    ///   - time: the time to verify at; `nil`: now.
    public static func evaluateAsync(_ request: TLSPeerVerificationRequest, at time: Date?) async -> TLSPeerVerificationDecision {
        guard let anchorDER = request.verifiedChain.last, request.backendVerification == .verified else {
            return .reject(
                "Web PKI profile: the backend did not verify the chain (certificate verification is off or the chain is pinned), so the profile cannot be applied"
            )
        }
        guard let leafDER = request.peerCertificates.first ?? request.verifiedChain.first else {
            return .reject("Web PKI profile: the peer presented no certificate")
        }
        guard let leaf = try? Certificate(derEncoded: leafDER) else {
            return .reject("Web PKI profile: certificate parsing: the peer's certificate cannot be parsed")
        }
        guard let root = try? Certificate(derEncoded: anchorDER) else {
            return .reject("Web PKI profile: certificate parsing: the trust anchor cannot be parsed")
        }
        // The candidates for the middle of the path: what the peer presented after its leaf
        // (in any order), and what the backend put between leaf and anchor. The verifier
        // finds the path itself, so the order of `verifiedChain` does not matter.
        var intermediates: [Certificate] = []
        var seen: Set<[UInt8]> = [leafDER, anchorDER]
        for der in request.peerCertificates.dropFirst() + request.verifiedChain.dropFirst().dropLast() where !seen.contains(der) {
            seen.insert(der)
            guard let certificate = try? Certificate(derEncoded: der) else {
                if request.verifiedChain.contains(der) {
                    return .reject("Web PKI profile: certificate parsing: a certificate of the verified chain cannot be parsed")
                }
                continue  // presented but not needed by the backend: cannot be on the path either
            }
            intermediates.append(certificate)
        }
        let fixedTime = time
        let side = request.side
        var host: String?
        var ip: String?
        if side == .client, let name = request.serverName {
            if (try? TLSServerName(name))?.ipAddress != nil { ip = name } else { host = name }
        }
        let (hostname, address) = (host, ip)
        let candidates = intermediates
        do {
            var verifier = Verifier(rootCertificates: CertificateStore([root])) {
                TLSWebPKIRFC5280Policy(fixedTime: fixedTime)
                if side == .client { ServerIdentityPolicy(serverHostname: hostname, serverIP: address) }
                WebPKIProfilePolicy(purpose: side == .client ? .serverAuth : .clientAuth)
            }
            switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(candidates)) {
            case .validCertificate:
                return .accept
            case .couldNotValidate(let failures):
                guard let first = failures.first?.policyFailureReason else {
                    return .reject("Web PKI profile: path building: no path from the leaf to the trust anchor")
                }
                let reason = "\(first)"
                if reason.hasPrefix("Web PKI profile: ") { return .reject(reason) }
                return .reject("Web PKI profile: swift-certificates verifier: \(reason)")
            }
        }
    }
}

/// The Web PKI rules (CA/Browser Forum baseline requirements, RFC 5280 "MUST"s) that
/// swift-certificates' RFC 5280 policy leaves to the profile. Each failure names its rule.
struct WebPKIProfilePolicy: VerifierPolicy {
    let purpose: ExtendedKeyUsage.Usage

    var verifyingCriticalExtensions: [ASN1ObjectIdentifier] { [.X509ExtensionID.extendedKeyUsage] }

    private static func fail(_ rule: String, _ detail: String) -> PolicyEvaluationResult {
        .failsToMeetPolicy(reason: "Web PKI profile: \(rule): \(detail)")
    }

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let certificates = Array(chain)
        for (index, certificate) in certificates.enumerated() {
            let result = Self.checkCertificate(
                certificate, isLeaf: index == 0, isRoot: index == certificates.count - 1)
            if case .failsToMeetPolicy = result { return result }
        }
        if case .failsToMeetPolicy(let reason) = Self.checkWildcardsAgainstExclusions(certificates) {
            return .failsToMeetPolicy(reason: reason)
        }
        return checkLeaf(chain.leaf)
    }

    /// The rules for every certificate of the path.
    static func checkCertificate(_ certificate: Certificate, isLeaf: Bool, isRoot: Bool) -> PolicyEvaluationResult {
        let which = isLeaf ? "the leaf" : (isRoot ? "the root" : "an intermediate")
        // Extensions that do not decode cannot be checked, so they fail (RFC 5280 4.2).
        let decoders: [(String, (Certificate.Extensions) throws -> Any?)] = [
            ("authorityInformationAccess", { try $0.authorityInformationAccess }),
            ("authorityKeyIdentifier", { try $0.authorityKeyIdentifier }),
            ("subjectKeyIdentifier", { try $0.subjectKeyIdentifier }),
            ("basicConstraints", { try $0.basicConstraints }),
            ("keyUsage", { try $0.keyUsage }),
            ("extendedKeyUsage", { try $0.extendedKeyUsage }),
            ("subjectAltName", { try $0.subjectAlternativeNames }),
            ("nameConstraints", { try $0.nameConstraints }),
        ]
        for (name, decode) in decoders {
            do { _ = try decode(certificate.extensions) } catch {
                return fail("malformed extension", "\(which)'s \(name) extension cannot be decoded")
            }
        }
        if let aia = try? certificate.extensions.authorityInformationAccess, aia.isEmpty {
            return fail("authority information access (CABF 7.1.2.7.7)", "\(which)'s AIA holds no access description")
        }
        let serial = Array(certificate.serialNumber.bytes)
        if serial.allSatisfy({ $0 == 0 }) { return fail("serial number (RFC 5280 4.1.2.2)", "\(which) has serial number 0") }
        if serial.count > 20 { return fail("serial number (RFC 5280 4.1.2.2)", "\(which)'s serial number is longer than 20 octets") }
        if let spki = subjectPublicKeyInfo(of: certificate), let bits = rsaModulusBits(spki) {
            if bits < 2048 { return fail("RSA key size (CABF 6.1.5)", "\(which)'s RSA key has \(bits) bits, fewer than 2048") }
            if bits % 8 != 0 { return fail("RSA key size (CABF 6.1.5)", "\(which)'s RSA key has \(bits) bits, not a multiple of 8") }
        }
        let aki = (try? certificate.extensions.authorityKeyIdentifier) ?? nil
        if let aki, aki.keyIdentifier == nil {
            return fail("authority key identifier (CABF 7.1.2.11.1)", "\(which)'s authority key identifier has no keyIdentifier")
        }
        if let aki, aki.authorityCertIssuer != nil || aki.authorityCertSerialNumber != nil {
            return fail(
                "authority key identifier (CABF 7.1.2.11.1)",
                "\(which)'s authority key identifier names the issuer's issuer or serial number; only keyIdentifier is allowed")
        }
        if isRoot, let keyIdentifier = aki?.keyIdentifier,
            let ski = (try? certificate.extensions.subjectKeyIdentifier) ?? nil, ski.keyIdentifier != keyIdentifier,
            certificate.issuer == certificate.subject,
            certificate.publicKey.isValidSignature(certificate.signature, for: certificate)  // self-signed, not just self-issued
        {
            return fail("authority key identifier (CABF 7.1.2.1.3)", "the root's authority key identifier differs from its subject key identifier")
        }
        // Only a self-issued trust anchor may go without: a cross-signed certificate used as the
        // anchor was still issued by another CA.
        if aki == nil, !(isRoot && !isLeaf && certificate.issuer == certificate.subject) {
            return fail("authority key identifier (RFC 5280 4.2.1.1)", "\(which) has no authority key identifier")
        }
        if !isLeaf {
            if certificate.subject.isEmpty {
                return fail("subject (RFC 5280 4.1.2.6)", "\(which), a CA certificate, has an empty subject")
            }
            if ((try? certificate.extensions.subjectKeyIdentifier) ?? nil) == nil {
                return fail("subject key identifier (RFC 5280 4.2.1.2)", "\(which), a CA certificate, has no subject key identifier")
            }
            if let constraints = certificate.extensions[oid: .X509ExtensionID.basicConstraints], !constraints.critical {
                return fail("basic constraints (RFC 5280 4.2.1.9)", "\(which)'s basicConstraints is not critical")
            }
            if isRoot, certificate.extensions[oid: .X509ExtensionID.extendedKeyUsage] != nil {
                return fail("root extended key usage (CABF 7.1.2.1)", "the root has an extended key usage")
            }
        }
        let policyConstraintsOID: ASN1ObjectIdentifier = [2, 5, 29, 36]
        if let policyConstraints = certificate.extensions[oid: policyConstraintsOID], !policyConstraints.critical {
            return fail("policy constraints (RFC 5280 4.2.1.11)", "\(which)'s policyConstraints is not critical")
        }
        if let constraints = (try? certificate.extensions.nameConstraints) ?? nil,
            constraints.permittedSubtrees.isEmpty, constraints.excludedSubtrees.isEmpty
        {
            return fail(
                "name constraints (RFC 5280 4.2.1.10, CABF 7.1.2.5.2)", "\(which)'s name constraints have neither permitted nor excluded subtrees")
        }
        if let constraints = (try? certificate.extensions.nameConstraints) ?? nil {
            // A dNSName constraint is a host name: the leading period of URI and email
            // constraints (".example.com") and wildcards do not belong in it.
            for case .dnsName(let name) in constraints.permittedSubtrees + constraints.excludedSubtrees
            where name.hasPrefix(".") || name.contains("*") {
                return fail("name constraints (RFC 5280 4.2.1.10)", "\(which)'s dNSName constraint \(name) is not a host name")
            }
        }
        return .meetsPolicy
    }

    /// A wildcard subjectAltName ("*.example.com") stands for every name one label below its
    /// base; if an excluded dNSName subtree on the path is such a name ("bar.example.com"),
    /// the wildcard covers an excluded name although it does not match the constraint as a
    /// string (CVE-2025-61727; RFC 5280 4.2.1.10 with RFC 9525 6.3).
    static func checkWildcardsAgainstExclusions(_ certificates: [Certificate]) -> PolicyEvaluationResult {
        guard let leaf = certificates.first, let sans = try? leaf.extensions.subjectAlternativeNames else { return .meetsPolicy }
        let bases = sans.compactMap { name -> String? in
            guard case .dnsName(let dns) = name, dns.hasPrefix("*.") else { return nil }
            return String(dns.dropFirst(2)).lowercased()
        }
        guard !bases.isEmpty else { return .meetsPolicy }
        for ca in certificates.dropFirst() {
            guard let constraints = (try? ca.extensions.nameConstraints) ?? nil else { continue }
            for case .dnsName(let excluded) in constraints.excludedSubtrees {
                let name = excluded.lowercased()
                guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { continue }
                let base = String(name[name.index(after: dot)...])
                if bases.contains(base) {
                    return fail(
                        "name constraints (RFC 5280 4.2.1.10, RFC 9525 6.3)",
                        "the leaf's wildcard subjectAltName *.\(base) covers \(excluded), which a CA's name constraints exclude")
                }
            }
        }
        return .meetsPolicy
    }

    /// The rules for the leaf.
    func checkLeaf(_ leaf: Certificate) -> PolicyEvaluationResult {
        guard leaf.version == .v3 else { return Self.fail("version (CABF 7.1.1)", "the leaf is not an X.509 v3 certificate") }
        if leaf.extensions[oid: .X509ExtensionID.nameConstraints] != nil {
            return Self.fail("name constraints (RFC 5280 4.2.1.10)", "the leaf carries name constraints")
        }
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            return Self.fail("basic constraints (CABF 7.1.2.7.8)", "the leaf is a CA certificate")
        }
        if let usage = try? leaf.extensions.keyUsage, usage.keyCertSign {
            return Self.fail("key usage (CABF 7.1.2.7.11)", "the leaf's key usage allows certificate signing")
        }
        guard let ekuExtension = leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage],
            let eku = try? leaf.extensions.extendedKeyUsage
        else {
            return Self.fail("extended key usage (CABF 7.1.2.7.10)", "the leaf has no extended key usage")
        }
        if ekuExtension.critical { return Self.fail("extended key usage (CABF 7.1.2.7.10)", "the leaf's extended key usage is critical") }
        if eku.contains(.any) { return Self.fail("extended key usage (CABF 7.1.2.7.10)", "the leaf allows any extended key usage") }
        guard eku.contains(purpose) else {
            return Self.fail("extended key usage (CABF 7.1.2.7.10)", "the leaf's extended key usage does not allow \(purpose)")
        }
        guard let sanExtension = leaf.extensions[oid: .X509ExtensionID.subjectAlternativeName],
            let sans = try? leaf.extensions.subjectAlternativeNames
        else {
            return Self.fail("subjectAltName (CABF 7.1.2.7.12)", "the leaf has no subjectAltName")
        }
        if leaf.subject.isEmpty, !sanExtension.critical {
            return Self.fail("subjectAltName (RFC 5280 4.2.1.6)", "the subject is empty but subjectAltName is not critical")
        }
        if !leaf.subject.isEmpty, sanExtension.critical {
            return Self.fail("subjectAltName (CABF 7.1.2.7.12)", "subjectAltName is critical although the subject is not empty")
        }
        for rdn in leaf.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let problem = TLSWebPKICommonName.problem(commonName: String(attribute.value), subjectAltNames: sans) {
                    return Self.fail("common name (CABF 7.1.4.3)", problem)
                }
            }
        }
        return .meetsPolicy
    }

    /// The certificate's subjectPublicKeyInfo, DER (the seventh field of tbsCertificate, or
    /// the sixth when the version is absent).
    static func subjectPublicKeyInfo(of certificate: Certificate) -> [UInt8]? {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate)) != nil,
            let root = try? DER.parse(serializer.serializedBytes), case .constructed(let outer) = root.content,
            let tbs = Array(outer).first, case .constructed(let tbsFields) = tbs.content
        else { return nil }
        let fields = Array(tbsFields)
        let hasVersion = fields.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)
        let index = hasVersion ? 6 : 5
        guard fields.count > index else { return nil }
        var spki = DER.Serializer()
        spki.serialize(fields[index])
        return spki.serializedBytes
    }

    /// The bit length of the modulus of an RSA subjectPublicKeyInfo; `nil` for other keys.
    static func rsaModulusBits(_ spki: [UInt8]) -> Int? {
        let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
        guard let root = try? DER.parse(spki), case .constructed(let outer) = root.content else { return nil }
        var nodes = outer.makeIterator()
        guard let algorithm = nodes.next(), case .constructed(let algorithmNodes) = algorithm.content,
            let oidNode = Array(algorithmNodes).first,
            let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode), oid == rsaEncryption,
            let keyNode = nodes.next(), let keyBits = try? ASN1BitString(derEncoded: keyNode),
            let key = try? DER.parse(Array(keyBits.bytes)), case .constructed(let keyNodes) = key.content,
            let modulusNode = Array(keyNodes).first, case .primitive(let modulus) = modulusNode.content
        else { return nil }
        let significant = modulus.drop { $0 == 0 }
        guard let first = significant.first else { return 0 }
        return (significant.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }
}
