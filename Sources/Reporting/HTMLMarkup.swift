// SPDX-License-Identifier: Apache-2.0
import Foundation
import Plot

/// A node of an HTML body (SVG included), as Plot builds it.
typealias BodyNode = Node<HTML.BodyContext>

/// The few helpers the HTML report builds its Plot nodes with. Plot escapes `<` and `>` in text
/// but keeps what looks like an entity (`&amp;`), and writes attribute values as they are; these
/// escape the rest, so wire bytes shown as text can never become markup.
enum Markup {
    /// Text for Plot's `.text`: ampersands escaped first (Plot then escapes `<` and `>`).
    static func text(_ value: String) -> String {
        value.replacingOccurrences(of: "&", with: "&amp;")
    }

    /// A quoted attribute's value, escaped.
    static func attribute(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// An element with attributes (in the order given) and children.
    static func element(_ name: String, _ attributes: [(String, String)] = [], _ children: [BodyNode] = []) -> BodyNode {
        .element(named: name, nodes: attributes.map { BodyNode.attribute(named: $0.0, value: attribute($0.1)) } + children)
    }

    /// An element holding only text.
    static func element(_ name: String, _ attributes: [(String, String)] = [], text value: String) -> BodyNode {
        element(name, attributes, [.text(text(value))])
    }

    /// Escaped text.
    static func words(_ value: String) -> BodyNode { .text(text(value)) }

    /// A number for an SVG attribute: at most one decimal, no trailing `.0`.
    static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(rounded)
    }
}
