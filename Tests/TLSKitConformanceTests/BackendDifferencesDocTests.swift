import Foundation
import TLSKit
import TLSKitTestSupport
import Testing

/// docs/BackendDifferences.md's matrix must say what `capabilities` says.
@Suite("Backend differences article")
struct BackendDifferencesDocTests {
    static func matrix() throws -> [String: [String: String]] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/BackendDifferences.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let start = text.range(of: "<!-- capabilities:begin -->"),
            let end = text.range(of: "<!-- capabilities:end -->")
        else { throw CocoaError(.fileReadCorruptFile) }
        let rows = text[start.upperBound..<end.lowerBound].split(separator: "\n").filter { $0.hasPrefix("|") }
        let cells = rows.map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        let header = cells[0]
        var result: [String: [String: String]] = [:]
        for row in cells.dropFirst(2) {
            for (i, backend) in header.enumerated().dropFirst() where i < row.count {
                result[backend, default: [:]][row[0]] = row[i]
            }
        }
        return result
    }

    @Test(arguments: TestBackends.all)
    func matrixMatchesCapabilities(backend: BackendUnderTest) throws {
        let column = try #require(try Self.matrix()[backend.name], "docs/BackendDifferences.md has no column for \(backend.name)")
        let caps = try backend.make().capabilities
        let documented = Set(column.filter { $0.value == "yes" }.map(\.key))
        #expect(documented == Set(caps.features.map(\.rawValue)))
        let allFeatureRows = Set(column.filter { $0.value == "yes" || $0.value == "no" }.map(\.key))
        #expect(caps.features.map(\.rawValue).allSatisfy { allFeatureRows.contains($0) })
        #expect(column["identifier schemes"] == caps.identifierSchemes.joined(separator: ", "))
        #expect(column["key-exchange groups"] == caps.keyExchangeGroups.map(\.description).sorted().joined(separator: ", "))
        #expect(column["protocol versions"] == caps.versions.sorted().map(\.description).joined(separator: ", "))
    }
}
