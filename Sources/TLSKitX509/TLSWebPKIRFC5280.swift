import Foundation
import SwiftASN1
import X509

/// The RFC 5280 path rules the Web PKI profile applies: version, validity, basic constraints
/// and name constraints (RFC 5280 6.1). It stands in for swift-certificates' `RFC5280Policy`,
/// whose name-constraint check rejects valid paths in two ways: it applies constraints to the
/// names of self-issued intermediates (RFC 5280 6.1.3(b) exempts them), and it rejects any
/// constraint of a type it does not support (otherName, …) even when no name of that type is
/// on the path (x509-limbo rfc5280::nc::permitted-self-issued, nc-forbids-othername-noop).
struct TLSWebPKIRFC5280Policy: VerifierPolicy {
    /// The time to verify at; `nil`: the time of the check.
    let fixedTime: Date?

    // The same set as swift-certificates' RFC5280Policy; key usage is accepted as
    // understood there too (it does not police it, and neither does the Web PKI).
    var verifyingCriticalExtensions: [ASN1ObjectIdentifier] {
        [.X509ExtensionID.basicConstraints, .X509ExtensionID.nameConstraints, .X509ExtensionID.keyUsage]
    }

    private static func fail(_ rule: String, _ detail: String) -> PolicyEvaluationResult {
        .failsToMeetPolicy(reason: "Web PKI profile: \(rule): \(detail)")
    }

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let certificates = Array(chain)
        let now = fixedTime ?? Date()
        for (index, certificate) in certificates.enumerated() {
            let which = Self.describe(index, of: certificates.count)
            if certificate.version == .v1, !certificate.extensions.isEmpty {
                return Self.fail("version (RFC 5280 4.1.2.1)", "\(which) is version 1 but has extensions")
            }
            if certificate.notValidBefore > certificate.notValidAfter {
                return Self.fail("validity (RFC 5280 4.1.2.5)", "\(which)'s validity period ends before it begins")
            }
            if now < certificate.notValidBefore { return Self.fail("validity (RFC 5280 6.1.3)", "\(which) is not valid yet") }
            if now > certificate.notValidAfter { return Self.fail("validity (RFC 5280 6.1.3)", "\(which) has expired") }
        }
        if case .failsToMeetPolicy(let reason) = Self.checkBasicConstraints(certificates) { return .failsToMeetPolicy(reason: reason) }
        return TLSWebPKINameConstraints.check(certificates)
    }

    static func describe(_ index: Int, of count: Int) -> String {
        index == 0 ? "the leaf" : (index == count - 1 ? "the root" : "intermediate \(index)")
    }

    /// Every issuer is a CA (or a version 1 certificate) whose path length allows the
    /// non-self-issued intermediates below it (RFC 5280 4.2.1.9, 6.1.4(k), (l), (m)).
    static func checkBasicConstraints(_ certificates: [Certificate]) -> PolicyEvaluationResult {
        guard let leaf = certificates.first else { return fail("basic constraints", "the path is empty") }
        if certificates.count == 1 {
            // A trust anchor presented as the leaf must be a CA.
            if leaf.version != .v1, case .isCertificateAuthority? = (try? leaf.extensions.basicConstraints) ?? nil { return .meetsPolicy }
            if leaf.version == .v1 { return .meetsPolicy }
            return fail("basic constraints (RFC 5280 4.2.1.9)", "the leaf is its own trust anchor but not a CA")
        }
        var intermediatesBelow = 0
        for (offset, issuer) in certificates.dropFirst().enumerated() {
            let which = describe(offset + 1, of: certificates.count)
            if issuer.version != .v1 {
                guard let constraints = try? issuer.extensions.basicConstraints,
                    case .isCertificateAuthority(let maximum) = constraints
                else {
                    return fail("basic constraints (RFC 5280 6.1.4(k))", "\(which) issues certificates but is not a CA")
                }
                if let maximum, maximum < intermediatesBelow {
                    return fail(
                        "basic constraints (RFC 5280 6.1.4(m))",
                        "\(which) allows \(maximum) intermediates below it, the path has \(intermediatesBelow)")
                }
            }
            if issuer.issuer != issuer.subject { intermediatesBelow += 1 }
        }
        return .meetsPolicy
    }
}

/// RFC 5280 name constraints (4.2.1.10, 6.1.3(b), (c), 6.1.4(g)).
enum TLSWebPKINameConstraints {
    private static func fail(_ detail: String) -> PolicyEvaluationResult {
        .failsToMeetPolicy(reason: "Web PKI profile: name constraints (RFC 5280 4.2.1.10): \(detail)")
    }

    private static let emailAddressOID: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 9, 1]

    /// The names a certificate is constrained by: its subject (when not empty), the
    /// emailAddress attributes of its subject, and its subjectAltNames.
    static func names(of certificate: Certificate) -> [GeneralName]? {
        var names: [GeneralName] = []
        if !certificate.subject.isEmpty { names.append(.directoryName(certificate.subject)) }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == emailAddressOID {
                if let text = String(attribute.value) { names.append(.rfc822Name(text)) }
            }
        }
        do {
            if let sans = try certificate.extensions.subjectAlternativeNames { names.append(contentsOf: sans) }
        } catch {
            return nil
        }
        return names
    }

    /// Applies each CA's constraints to the certificates below it, skipping self-issued
    /// intermediates (but never the leaf).
    static func check(_ certificates: [Certificate]) -> PolicyEvaluationResult {
        for (caIndex, ca) in certificates.enumerated() where caIndex > 0 || certificates.count == 1 {
            let constraints: NameConstraints
            do {
                guard let decoded = try ca.extensions.nameConstraints else { continue }
                constraints = decoded
            } catch {
                return fail("a CA's name constraints cannot be decoded")
            }
            let subjects = certificates.count == 1 ? certificates[...] : certificates[..<caIndex]
            for (index, certificate) in subjects.enumerated() {
                if index > 0, certificate.issuer == certificate.subject { continue }
                guard let names = names(of: certificate) else { return fail("a certificate's subjectAltName cannot be decoded") }
                for name in names {
                    if case .failsToMeetPolicy(let reason) = check(
                        name, permitted: constraints.permittedSubtrees, excluded: constraints.excludedSubtrees)
                    {
                        return .failsToMeetPolicy(reason: reason)
                    }
                }
            }
        }
        return .meetsPolicy
    }

    enum Match {
        case inside, outside, unsupported
        case invalid(String)
    }

    static func check(_ name: GeneralName, permitted: [GeneralName], excluded: [GeneralName]) -> PolicyEvaluationResult {
        for constraint in excluded {
            switch match(name, constraint) {
            case .inside?: return fail("\(text(name)) is in the excluded subtree \(text(constraint))")
            case .invalid(let why)?: return fail(why)
            case .unsupported?: return fail("\(text(name)) cannot be checked against the excluded subtree \(text(constraint))")
            case .outside?, nil: continue
            }
        }
        var constrained = false
        for constraint in permitted {
            switch match(name, constraint) {
            case .inside?: return .meetsPolicy
            case .invalid(let why)?: return fail(why)
            case .unsupported?: return fail("\(text(name)) cannot be checked against the permitted subtree \(text(constraint))")
            case .outside?: constrained = true
            case nil: continue
            }
        }
        return constrained ? fail("\(text(name)) is in no permitted subtree") : .meetsPolicy
    }

    static func text(_ name: GeneralName) -> String {
        switch name {
        case .dnsName(let value): return "DNS:\(value)"
        case .rfc822Name(let value): return "email:\(value)"
        case .uniformResourceIdentifier(let value): return "URI:\(value)"
        case .ipAddress(let octets): return "IP:\(Array(octets.bytes))"
        case .directoryName(let dn): return "DirName:\(dn)"
        default: return "\(name)"
        }
    }

    /// Whether `name` lies inside `constraint`; `nil` when the constraint is of another type.
    static func match(_ name: GeneralName, _ constraint: GeneralName) -> Match? {
        switch (name, constraint) {
        case (.dnsName(let presented), .dnsName(let base)):
            guard isHostName(presented, allowingWildcard: true) else { return .invalid("the dNSName \(presented) is malformed") }
            guard base.isEmpty || isHostName(base, allowingWildcard: false) else {
                return .invalid("the dNSName constraint \(base) is not a host name")
            }
            return dnsName(presented, isWithin: base) ? .inside : .outside
        case (.ipAddress(let presented), .ipAddress(let range)):
            let address = Array(presented.bytes)
            let block = Array(range.bytes)
            guard address.count == 4 || address.count == 16 else { return .invalid("an iPAddress name has \(address.count) octets") }
            guard block.count == 8 || block.count == 32, isContiguousMask(Array(block[(block.count / 2)...])) else {
                return .invalid("an iPAddress constraint is not an address and a contiguous mask")
            }
            guard block.count == address.count * 2 else { return .outside }
            let mask = block[(block.count / 2)...]
            return zip(zip(address, block), mask).allSatisfy { ($0.0 & $1) == ($0.1 & $1) } ? .inside : .outside
        case (.rfc822Name(let presented), .rfc822Name(let base)):
            let parts = presented.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return .invalid("the email address \(presented) is malformed") }
            let host = parts[1].lowercased()
            if base.contains("@") {
                let baseParts = base.split(separator: "@", omittingEmptySubsequences: false)
                guard baseParts.count == 2 else { return .invalid("the email constraint \(base) is malformed") }
                return parts[0] == baseParts[0] && host == baseParts[1].lowercased() ? .inside : .outside
            }
            let lowered = base.lowercased()
            if lowered.hasPrefix(".") { return host.hasSuffix(lowered) ? .inside : .outside }
            return host == lowered ? .inside : .outside
        case (.uniformResourceIdentifier(let presented), .uniformResourceIdentifier(let base)):
            guard let host = uriHost(presented) else { return .invalid("the URI \(presented) has no host") }
            let lowered = base.lowercased()
            if lowered.hasPrefix(".") { return host.hasSuffix(lowered) ? .inside : .outside }
            return host == lowered ? .inside : .outside
        case (.directoryName(let presented), .directoryName(let base)):
            let rdns = Array(presented)
            let prefix = Array(base)
            return prefix.count <= rdns.count && Array(rdns.prefix(prefix.count)) == prefix ? .inside : .outside
        case (.dnsName, _), (.ipAddress, _), (.rfc822Name, _), (.uniformResourceIdentifier, _), (.directoryName, _):
            return sameKind(name, constraint) ? .unsupported : nil
        default:
            // otherName, x400Address, ediPartyName, registeredID: checked only when both the
            // name and the constraint are of that type, and then not supported.
            return sameKind(name, constraint) ? .unsupported : nil
        }
    }

    static func sameKind(_ a: GeneralName, _ b: GeneralName) -> Bool {
        switch (a, b) {
        case (.otherName, .otherName), (.rfc822Name, .rfc822Name), (.dnsName, .dnsName), (.x400Address, .x400Address),
            (.directoryName, .directoryName), (.ediPartyName, .ediPartyName), (.uniformResourceIdentifier, .uniformResourceIdentifier),
            (.ipAddress, .ipAddress), (.registeredID, .registeredID):
            return true
        default:
            return false
        }
    }

    /// RFC 5280 4.2.1.10: a name satisfies a dNSName constraint when it is the constraint with
    /// zero or more labels added on the left. Compared without regard to case.
    static func dnsName(_ name: String, isWithin base: String) -> Bool {
        if base.isEmpty { return true }
        let name = name.lowercased()
        let base = base.lowercased()
        return name == base || name.hasSuffix("." + base)
    }

    /// Labels of letters, digits and hyphens (and, in a subjectAltName, a leftmost "*").
    static func isHostName(_ text: String, allowingWildcard: Bool) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label == "*", index == 0, allowingWildcard, labels.count > 1 { continue }
            guard !label.isEmpty, label.count <= 63,
                label.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D })
            else { return false }
        }
        return !labels.isEmpty
    }

    static func isContiguousMask(_ mask: [UInt8]) -> Bool {
        var seenZero = false
        for byte in mask {
            for bit in (0..<8).reversed() {
                let set = byte & (1 << bit) != 0
                if set && seenZero { return false }
                if !set { seenZero = true }
            }
        }
        return true
    }

    /// The host of a URI ("scheme://[userinfo@]host[:port]/…"), lower-cased.
    static func uriHost(_ uri: String) -> String? {
        guard let schemeEnd = uri.range(of: "://") else { return nil }
        var authority = uri[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if !authority.hasPrefix("["), let colon = authority.lastIndex(of: ":") { authority = authority[..<colon] }
        return authority.isEmpty ? nil : authority.lowercased()
    }
}
