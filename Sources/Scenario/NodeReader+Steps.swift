// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import Yams

extension NodeReader {
    static let stepKeywords = [
        "connect", "open", "greeting", "capability", "send", "expect", "starttls", "assert", "close", "stop", "continue", "sleep",
        "set", "snapshot", "use", "tls-policy", "listen", "accept", "respond",
    ]

    /// Reads a list of steps, expanding `use:` in place.
    mutating func steps(_ items: [Node]) -> [Step] {
        var result: [Step] = []
        for item in items {
            result += step(item)
        }
        return result
    }

    /// One step (or, for `use:`, the steps of a fragment).
    mutating func step(_ node: Node) -> [Step] {
        guard var map = mapping(node, what: "a step") else { return [] }
        var connection: String?
        if let on = map.take("on"), let name = string(on) { connection = name }
        let keywords = map.pairs.compactMap { $0.0.scalar?.string }.filter { $0 != "on" }
        guard keywords.count == 1, let keyword = keywords.first,
            let (keyNode, value) = map.pairs.first(where: { $0.0.scalar?.string == keyword })
        else {
            let found = keywords.isEmpty ? "none" : keywords.joined(separator: ", ")
            error(node, "a step has exactly one keyword (\(Self.stepKeywords.joined(separator: ", "))), and may add 'on'; found: \(found)")
            return []
        }
        let at = location(node)
        func one(_ kind: Step.Kind?) -> [Step] {
            kind.map { [Step($0, at: at, connection: connection)] } ?? []
        }
        switch keyword {
        case "connect": return one(connect(value).map { .connect($0) })
        case "open": return one(open(value).map { .open($0) })
        case "greeting": return one(greeting(value, step: node).map { .greeting($0) })
        case "capability": return one(capability(value, step: node).map { .capability($0) })
        case "send": return one(send(value).map { .send($0) })
        case "expect": return one(expect(value).map { .expect($0) })
        case "starttls": return one(starttls(value).map { .starttls($0) })
        case "assert": return one(assertion(value).map { .assert($0) })
        case "sleep": return one(duration(value).map { .sleep($0) })
        case "snapshot": return one(snapshot(value).map { .snapshot($0) })
        case "tls-policy": return one(tlsPolicy(value).map { .tlsPolicy($0) })
        case "listen": return one(listen(value).map { .listen($0) })
        case "accept": return one(accept(value).map { .accept($0) })
        case "respond": return one(respond(value).map { .respond($0) })
        case "set":
            let values = assignments(value, what: "'set'")
            return values.isEmpty ? [] : one(.set(values))
        case "close", "stop", "continue":
            if !isNull(value) { error(value, "'\(keyword)' takes no value") }
            return one(keyword == "close" ? .close : keyword == "stop" ? .stop : .continue)
        case "use":
            if connection != nil { error(node, "'on' does not apply to 'use': give 'on' to the fragment's steps") }
            return use(value)
        default:
            error(keyNode, unknownKey(keyword, allowed: Self.stepKeywords, in: "a step"))
            return []
        }
    }

    /// `snapshot: NAME` or `snapshot: {name: NAME, facts: [FACT, ...]}`.
    mutating func snapshot(_ node: Node) -> Step.Snapshot? {
        func name(_ node: Node) -> String? {
            guard let text = string(node) else { return nil }
            let allowed = text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
            }
            guard allowed, !text.isEmpty, !text.hasPrefix(".") else {
                error(node, "'\(text)' cannot name a snapshot file (letters, digits, '.', '_', '-'; not starting with '.')")
                return nil
            }
            return text
        }
        if node.scalar != nil { return name(node).map { Step.Snapshot(name: $0) } }
        guard var map = mapping(node, what: "'snapshot' (a name, or a mapping with 'name' and 'facts')") else { return nil }
        var result: Step.Snapshot?
        if let n = map.take("name") {
            result = name(n).map { Step.Snapshot(name: $0) }
        } else {
            error(node, "'snapshot' needs 'name'")
        }
        if let n = map.take("facts") {
            var facts: [String] = []
            for item in stringList(n, what: "a list of facts") {
                if Step.Snapshot.allFacts.contains(item) {
                    facts.append(item)
                } else {
                    error(n, unknownValue(item, allowed: Step.Snapshot.allFacts, what: "fact"))
                }
            }
            if facts.isEmpty, n.sequence?.isEmpty ?? false { error(n, "'facts' is empty") }
            // File order, whatever the order written.
            result?.facts = Step.Snapshot.allFacts.filter(facts.contains)
        }
        finish(&map, allowed: ["name", "facts"], in: "'snapshot'")
        return result
    }

    /// The steps of a named fragment, read where the fragment was written.
    mutating func use(_ node: Node) -> [Step] {
        guard let name = string(node) else { return [] }
        guard let fragment = fragments[name] else {
            error(node, unknownValue(name, allowed: fragments.keys.sorted(), what: "fragment"))
            return []
        }
        if expanding.contains(name) {
            error(node, "fragment '\(name)' uses itself (\((expanding + [name]).joined(separator: " -> ")))")
            return []
        }
        expanding.append(name)
        let outer = file
        file = fragment.file
        defer {
            file = outer
            expanding.removeLast()
        }
        return steps(fragment.node.sequence.map(Array.init) ?? [])
    }

    mutating func connect(_ node: Node) -> Step.Connect? {
        var result = Step.Connect()
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'connect'") else { return nil }
        if let n = map.take("name"), let v = string(n) { result.name = v }
        if let n = map.take("server"), let v = string(n) { result.server = v }
        if let n = map.take("host"), let v = template(n) { result.host = v }
        if let n = map.take("mx"), let v = template(n) { result.mx = v }
        if let n = map.take("port") { result.port = template(n) }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        if let n = map.take("tls") {
            if n.scalar != nil, !isNull(n) {
                if let on = bool(n) { result.tls = on ? TLSOptions() : nil }
            } else {
                result.tls = tlsOptions(n, what: "'tls'")
            }
        }
        if result.server != nil && (result.host != nil || result.port != nil) {
            error(node, "'connect' takes 'server', or 'host' and 'port', not both")
        }
        if result.mx != nil && (result.host != nil || result.server != nil) {
            error(node, "'connect' takes 'mx' (a mail domain), 'host' or 'server': one of them")
        }
        finish(&map, allowed: ["name", "server", "host", "mx", "port", "timeout", "tls"], in: "'connect'")
        return result
    }

    static let openKeys = [
        "name", "server", "host", "mx", "port", "type", "capability-command", "end-of-command", "end-of-capability",
        "always-query-capabilities", "starttls-when", "starttls-command", "success", "nowait", "no-greeting",
        "shell-command", "case-fold", "client-certificate-from", "timeout", "outcome",
    ]

    static let openTypes = Step.Open.ConnectionType.allCases.map(\.rawValue)

    /// `open`: open-network-stream with every parameter; the preset fills in the dialog's shapes.
    mutating func open(_ node: Node) -> Step.Open? {
        let at = location(node)
        var result = Step.Open()
        if let preset { result.apply(preset, at: at) }
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'open'") else { return nil }
        let caseFold = map.take("case-fold").flatMap { bool($0) } ?? false
        result.caseFold = caseFold
        if let n = map.take("name"), let v = string(n) { result.name = v }
        if let n = map.take("server"), let v = string(n) { result.server = v }
        if let n = map.take("host"), let v = template(n) { result.host = v }
        if let n = map.take("mx"), let v = template(n) { result.mx = v }
        if let n = map.take("port") { result.port = template(n) }
        if let n = map.take("type"), let v = string(n) {
            if let type = Step.Open.ConnectionType(rawValue: v) {
                result.type = type
            } else {
                error(n, unknownValue(v, allowed: Self.openTypes, what: "connection type"))
            }
        }
        if let n = map.take("capability-command") { result.capabilityCommand = template(n) }
        if let n = map.take("end-of-command") { result.endOfCommand = pattern(n, caseInsensitive: caseFold) }
        if let n = map.take("end-of-capability") { result.endOfCapability = pattern(n, caseInsensitive: caseFold) }
        if let n = map.take("always-query-capabilities"), let v = bool(n) { result.alwaysQueryCapabilities = v }
        if let n = map.take("starttls-when") { result.starttlsWhen = pattern(n, caseInsensitive: caseFold) }
        if let n = map.take("starttls-command") { result.starttlsCommand = template(n) }
        if let n = map.take("success") { result.success = pattern(n, caseInsensitive: caseFold) }
        if let n = map.take("nowait"), let v = bool(n) { result.nowait = v }
        if let n = map.take("no-greeting"), let v = bool(n) { result.noGreeting = v }
        if let n = map.take("shell-command") { result.shellCommand = template(n) }
        if let n = map.take("client-certificate-from") { result.clientCertificateFrom = path(n) }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        if let n = map.take("outcome"), let v = string(n) {
            switch v {
            case "succeed": result.expectFailure = false
            case "fail": result.expectFailure = true
            default: error(n, "'outcome' is 'succeed' or 'fail', not '\(v)'")
            }
        }
        if result.type == .shell && result.shellCommand == nil {
            error(node, "type 'shell' needs 'shell-command' (with %s for the host and %p for the port)")
        }
        if result.server != nil && (result.host != nil || result.port != nil) {
            error(node, "'open' takes 'server', or 'host' and 'port', not both")
        }
        if result.mx != nil && (result.host != nil || result.server != nil || result.type == .shell) {
            error(node, "'open' takes 'mx' (a mail domain), 'host' or 'server': one of them, and not with type 'shell'")
        }
        result.tls = readTLS(&map)
        finish(&map, allowed: Self.openKeys + Self.tlsKeys, in: "'open'")
        return result
    }

    mutating func greeting(_ node: Node, step: Node) -> Step.Greeting? {
        let at = location(node)
        var result: Step.Greeting?
        if let source = preset?.greeting {
            result = Step.Greeting(pattern: PatternSpec(source, at: at))
        }
        if isNull(node) {
            if result == nil { error(step, "'greeting' needs 'pattern', or a 'preset' whose server speaks first") }
            return result
        }
        if node.scalar != nil {
            return pattern(node, caseInsensitive: false).map { Step.Greeting(pattern: $0) }
        }
        guard var map = mapping(node, what: "'greeting'") else { return nil }
        if let n = map.take("pattern") {
            if let p = pattern(n, caseInsensitive: false) { result = Step.Greeting(pattern: p) }
        } else if result == nil {
            error(node, "'greeting' needs 'pattern', or a 'preset' whose server speaks first")
        }
        if let n = map.take("timeout"), let v = duration(n) { result?.timeout = v }
        finish(&map, allowed: ["pattern", "timeout"], in: "'greeting'")
        return result
    }

    mutating func capability(_ node: Node, step: Node) -> Step.Capability? {
        let at = location(node)
        var command = preset.map { Template($0.capabilityCommand, at: at) }
        var end = preset.map { PatternSpec($0.endOfCapabilities, at: at) }
        var timeout: Duration?
        if !isNull(node) {
            guard var map = mapping(node, what: "'capability'") else { return nil }
            if let n = map.take("command") { command = template(n) }
            if let n = map.take("end") { end = pattern(n, caseInsensitive: false) }
            if let n = map.take("timeout") { timeout = duration(n) }
            finish(&map, allowed: ["command", "end", "timeout"], in: "'capability'")
        }
        guard let command, let end else {
            error(isNull(node) ? step : node, "'capability' needs 'command' and 'end', or a 'preset'")
            return nil
        }
        return Step.Capability(command: command, end: end, timeout: timeout)
    }

    mutating func send(_ node: Node) -> Step.Send? {
        if node.scalar != nil {
            return template(node).map { Step.Send(parts: [.text($0)]) }
        }
        guard var map = mapping(node, what: "'send' (a string, or a mapping with 'text', 'line', 'hex', 'base64' or 'parts')") else {
            return nil
        }
        var parts: [Step.Send.Part] = []
        let forms = ["text", "line", "hex", "base64", "parts"].filter { map.node($0) != nil }
        if forms.count > 1 {
            error(node, "'send' takes one of 'text', 'line', 'hex', 'base64' or 'parts'; found \(forms.joined(separator: ", "))")
        } else if forms.isEmpty {
            error(node, "'send' needs 'text' (as written), 'line' (CR LF appended), 'hex', 'base64' or 'parts'")
        }
        if let n = map.take("text"), let t = template(n) { parts = [.text(t)] }
        if let n = map.take("line"), let t = template(n) { parts = [.line(t)] }
        if let n = map.take("hex"), let b = hex(n) { parts = [.bytes(b)] }
        if let n = map.take("base64"), let t = template(n) { parts = [.base64(t)] }
        if let n = map.take("parts"), let items = sequence(n, what: "a list of parts") {
            parts = items.compactMap { part($0) }
            if items.isEmpty { error(n, "'parts' is empty") }
        }
        var result = Step.Send(parts: parts)
        if let n = map.take("delay") { result.delay = duration(n) }
        if let n = map.take("secret"), let v = bool(n) { result.secret = v }
        finish(&map, allowed: ["text", "line", "hex", "base64", "parts", "delay", "secret"], in: "'send'")
        return parts.isEmpty ? nil : result
    }

    /// One element of `parts`: a string, or `{text|line|hex|base64: ...}`.
    mutating func part(_ node: Node) -> Step.Send.Part? {
        if node.scalar != nil { return template(node).map { .text($0) } }
        guard var map = mapping(node, what: "a part (a string, or a mapping with 'text', 'line', 'hex' or 'base64')") else { return nil }
        var result: Step.Send.Part?
        if map.count != 1 { error(node, "a part has exactly one of 'text', 'line', 'hex' or 'base64'") }
        if let n = map.take("text") { result = template(n).map { .text($0) } }
        if let n = map.take("line") { result = template(n).map { .line($0) } }
        if let n = map.take("hex") { result = hex(n).map { .bytes($0) } }
        if let n = map.take("base64") { result = template(n).map { .base64($0) } }
        finish(&map, allowed: ["text", "line", "hex", "base64"], in: "a part")
        return result
    }

    mutating func expect(_ node: Node) -> Step.Expect? {
        if node.scalar != nil {
            return pattern(node, caseInsensitive: false).map { Step.Expect(pattern: $0) }
        }
        guard var map = mapping(node, what: "'expect' (a pattern, or a mapping with 'pattern', 'nothing-within' or 'peer-closes')") else {
            return nil
        }
        let caseless = map.take("case-insensitive").flatMap { bool($0) } ?? false
        let forms = ["pattern", "nothing-within", "peer-closes"].filter { map.node($0) != nil }
        var result: Step.Expect?
        if forms.count > 1 {
            error(node, "'expect' waits for one of 'pattern', 'nothing-within' or 'peer-closes'; found \(forms.joined(separator: ", "))")
        }
        if let p = map.take("pattern") {
            result = pattern(p, caseInsensitive: caseless).map { Step.Expect(pattern: $0) }
        } else if let n = map.take("nothing-within") {
            result = duration(n).map { Step.Expect(.silence($0)) }
        } else if let n = map.take("peer-closes") {
            if let v = bool(n) {
                if v { result = Step.Expect(.peerCloses) } else { error(n, "'peer-closes' can only be true") }
            }
        } else {
            error(node, "'expect' needs 'pattern', 'nothing-within' or 'peer-closes'")
        }
        if let n = map.take("timeout"), let v = duration(n) {
            if case .silence = result?.condition { error(n, "'nothing-within' is its own deadline: leave out 'timeout'") }
            result?.timeout = v
        }
        if let n = map.take("idle-timeout"), let v = duration(n) {
            if result?.pattern == nil { error(n, "'idle-timeout' goes with 'pattern'") }
            result?.idleTimeout = v
        }
        if caseless, result?.pattern == nil, let n = map.node("case-insensitive") {
            error(n, "'case-insensitive' goes with 'pattern'")
        }
        finish(
            &map,
            allowed: ["pattern", "nothing-within", "peer-closes", "timeout", "idle-timeout", "case-insensitive"],
            in: "'expect'"
        )
        return result
    }

    mutating func starttls(_ node: Node) -> Step.StartTLS? {
        let at = location(node)
        let defaults = preset ?? .smtp
        var result = Step.StartTLS(
            command: Template(defaults.starttlsCommand, at: at),
            reply: PatternSpec(defaults.starttlsReply, at: at),
            success: PatternSpec(defaults.starttlsSuccess, at: at),
            tls: TLSOptions()
        )
        result.capabilityWord = defaults.starttlsCapability
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'starttls'") else { return nil }
        if let n = map.take("required"), let v = bool(n) { result.required = v }
        if let n = map.take("handshake-error") {
            result.failureReason = pattern(n, caseInsensitive: true)
            if map.node("handshake")?.scalar?.string != "fail" {
                error(n, "'handshake-error' goes with 'handshake: fail'")
            }
        }
        if let n = map.take("command"), let v = template(n) { result.command = v }
        if let n = map.take("reply"), let v = pattern(n, caseInsensitive: false) { result.reply = v }
        if let n = map.take("success"), let v = pattern(n, caseInsensitive: false) { result.success = v }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        if let n = map.take("handshake-timeout"), let v = duration(n) { result.handshakeTimeout = v }
        let handshakeNode = map.take("handshake")
        if let n = handshakeNode, let v = string(n) {
            switch v {
            case "succeed": result.expectFailure = false
            case "fail": result.expectFailure = true
            case "refused":
                result.expectFailure = true
                result.clientRefusal = .required
            case "either": result.clientRefusal = .allowed
            default: error(n, "'handshake' is 'succeed' or 'fail' (and, playing the server, 'refused' or 'either'), not '\(v)'")
            }
        }
        result.tls = readTLS(&map)
        let certificate = map.take("certificate").flatMap { path($0) }
        let key = map.take("key").flatMap { path($0) }
        var clientCertificate: String?
        if let n = map.take("client-certificate"), let v = string(n) {
            if ["request", "require"].contains(v) {
                clientCertificate = v
            } else {
                error(n, "'client-certificate' is 'request' or 'require', not '\(v)'")
            }
        }
        let goAhead = map.take("go-ahead").flatMap { template($0) }
        let inject = map.take("inject").flatMap { template($0) }
        if result.clientRefusal != nil, certificate == nil || key == nil, let n = handshakeNode {
            error(
                n,
                "'handshake: \(result.clientRefusal?.rawValue ?? "")' is for the server side of 'starttls' (give 'certificate' and 'key')")
        }
        if let certificate, let key {
            result.server = Step.StartTLS.ServerTLS(certificate: certificate, key: key, clientCertificate: clientCertificate)
            result.server?.goAhead = goAhead
            result.server?.inject = inject
        } else if certificate != nil || key != nil || clientCertificate != nil || goAhead != nil || inject != nil {
            error(node, "the server side of 'starttls' needs 'certificate' and 'key' (PEM files)")
        }
        finish(
            &map,
            allowed: ["command", "reply", "success", "timeout", "handshake-timeout", "handshake", "handshake-error", "required"]
                + Self.tlsKeys + ["certificate", "key", "client-certificate", "go-ahead", "inject"],
            in: "'starttls'"
        )
        return result
    }

    /// `listen: {name: NAME, host: HOST, port: PORT}` (every key optional).
    mutating func listen(_ node: Node) -> Step.Listen? {
        var result = Step.Listen()
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'listen'") else { return nil }
        if let n = map.take("name"), let v = string(n) { result.name = v }
        if let n = map.take("host"), let v = template(n) { result.host = v }
        if let n = map.take("port") { result.port = template(n) }
        finish(&map, allowed: ["name", "host", "port"], in: "'listen'")
        return result
    }

    /// `accept: {from: LISTENER, name: NAME, timeout: DURATION}` (every key optional).
    mutating func accept(_ node: Node) -> Step.Accept? {
        var result = Step.Accept()
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'accept'") else { return nil }
        if let n = map.take("from"), let v = string(n) { result.from = v }
        if let n = map.take("name"), let v = string(n) { result.name = v }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        finish(&map, allowed: ["from", "name", "timeout"], in: "'accept'")
        return result
    }

    /// `respond: [RULE, ...]` or `respond: {rules: [RULE, ...], timeout: DURATION, limit: N,
    /// on-close: MESSAGE}`, each rule `{when: PATTERN, silence: DURATION, send: LINE|[LINE, ...],
    /// then: PATTERN, after: LINE|[LINE, ...], fail: MESSAGE, end: true}` (or
    /// `then: [{expect: PATTERN, send: LINES}, ...]`).
    mutating func respond(_ node: Node) -> Step.Respond? {
        var ruleNodes: [Node]?
        var timeout: Duration?
        var limit: Int?
        var onClose: Template?
        if node.sequence != nil {
            ruleNodes = sequence(node, what: "'respond' (a list of rules)")
        } else {
            guard var map = mapping(node, what: "'respond' (a list of rules, or a mapping with 'rules')") else { return nil }
            if let n = map.take("rules") { ruleNodes = sequence(n, what: "'rules' (a list of rules)") }
            if let n = map.take("timeout") { timeout = duration(n) }
            if let n = map.take("limit"), let v = int(n) {
                if v < 1 { error(n, "'limit' is at least 1") } else { limit = v }
            }
            if let n = map.take("on-close") { onClose = template(n) }
            finish(&map, allowed: ["rules", "timeout", "limit", "on-close"], in: "'respond'")
            if ruleNodes == nil {
                error(node, "'respond' needs 'rules'")
                return nil
            }
        }
        guard let ruleNodes else { return nil }
        if ruleNodes.isEmpty {
            error(node, "'respond' needs at least one rule")
            return nil
        }
        var rules: [Step.Respond.Rule] = []
        for item in ruleNodes {
            if let rule = respondRule(item) { rules.append(rule) }
        }
        var result = Step.Respond(rules: rules)
        result.timeout = timeout
        result.onClose = onClose
        if let limit { result.limit = limit }
        return result
    }

    /// One rule of `respond`.
    mutating func respondRule(_ node: Node) -> Step.Respond.Rule? {
        guard var map = mapping(node, what: "a rule of 'respond' (a mapping with 'when')") else { return nil }
        guard let whenNode = map.take("when") else {
            error(node, "a rule of 'respond' needs 'when' (the pattern of the client's line)")
            return nil
        }
        guard let when = pattern(whenNode, caseInsensitive: true) else { return nil }
        var rule = Step.Respond.Rule(when: when, at: location(node))
        func lines(_ n: Node) -> [Template] {
            if n.sequence != nil {
                return (sequence(n, what: "a list of lines") ?? []).compactMap { template($0) }
            }
            return template(n).map { [$0] } ?? []
        }
        if let n = map.take("send") { rule.send = lines(n) }
        let after = map.take("after")
        if let n = map.take("then") {
            if n.sequence != nil {
                // then: [{expect: PATTERN, send: LINES}, ...]
                if let after { error(after, "'after' goes with a 'then' pattern; in a list of exchanges each has its 'send'") }
                for item in sequence(n, what: "a list of exchanges") ?? [] {
                    guard var exchange = mapping(item, what: "an exchange (a mapping with 'expect' and 'send')") else { continue }
                    let expect = exchange.take("expect").flatMap { pattern($0, caseInsensitive: false) }
                    let send = exchange.take("send").map { lines($0) } ?? []
                    if let expect {
                        rule.then.append(Step.Respond.Exchange(expect: expect, send: send))
                    } else {
                        error(item, "an exchange needs 'expect' (what to read)")
                    }
                    finish(&exchange, allowed: ["expect", "send"], in: "an exchange")
                }
            } else if let expect = pattern(n, caseInsensitive: false) {
                rule.then = [Step.Respond.Exchange(expect: expect, send: after.map { lines($0) } ?? [])]
            }
        } else if let after {
            error(after, "'after' goes with 'then' (what to read before sending it)")
        }
        if let n = map.take("fail") {
            rule.fail = template(n)
            if !rule.send.isEmpty || !rule.then.isEmpty { error(n, "a rule with 'fail' sends nothing: leave out 'send' and 'then'") }
        }
        if let n = map.take("end"), let v = bool(n) { rule.end = v }
        if let n = map.take("silence") {
            rule.silence = duration(n)
            if rule.fail != nil { error(n, "a rule with 'fail' answers nothing: leave out 'silence'") }
        }
        finish(&map, allowed: ["when", "silence", "send", "then", "after", "fail", "end"], in: "a rule of 'respond'")
        return rule
    }

    static let tlsKeys = ["ca-file", "insecure", "verify", "server-name", "priority", "client-cert", "client-key", "alpn"]

    mutating func tlsOptions(_ node: Node, what: String) -> TLSOptions? {
        if isNull(node) { return TLSOptions() }
        guard var map = mapping(node, what: what) else { return nil }
        let options = readTLS(&map)
        finish(&map, allowed: Self.tlsKeys, in: what)
        return options
    }

    mutating func readTLS(_ map: inout MappingCursor) -> TLSOptions {
        var tls = TLSOptions()
        if let n = map.take("ca-file"), let v = path(n) { tls.caFile = v }
        if let n = map.take("insecure"), let v = bool(n) { tls.insecure = v }
        if let n = map.take("verify"), let v = string(n) {
            if let verification = TLSOptions.Verification(rawValue: v) {
                tls.verification = verification
            } else {
                error(n, unknownValue(v, allowed: TLSOptions.Verification.allCases.map(\.rawValue), what: "verification"))
            }
            if tls.insecure && tls.verification == .dane { error(n, "'verify: dane' and 'insecure: true' contradict each other") }
        }
        if let n = map.take("server-name"), let v = template(n) { tls.serverName = v }
        if let n = map.take("priority"), let v = string(n) { tls.priority = v }
        if let n = map.take("client-cert"), let v = path(n) { tls.clientCertificate = v }
        if let n = map.take("client-key"), let v = path(n) { tls.clientKey = v }
        if let n = map.take("alpn") { tls.alpn = stringList(n, what: "a protocol name or a list of them") }
        if (tls.clientCertificate == nil) != (tls.clientKey == nil), let n = map.node("client-cert") ?? map.node("client-key") {
            error(n, "'client-cert' and 'client-key' go together")
        }
        return tls
    }

    /// TLS versions, oldest first, as GnuTLS names them.
    static let tlsVersions = ["SSL3.0", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]

    static let assertKeys = [
        "status", "tls", "verified", "tls-version", "min-tls-version", "cipher", "peer-subject", "peer-issuer", "peer-san", "days-left",
        "discarded-bytes", "greeting", "capabilities", "capabilities-before-tls", "capabilities-after-tls", "variables",
        "stream-type", "stream-error", "dane", "mta-sts", "tls-rpt", "offered-versions", "offered-alpn", "sni",
    ]

    /// The outcomes of a DANE check (RFC 7672 §2.2 and §3).
    static let daneStates = ["valid", "invalid", "unusable", "absent", "insecure", "bogus"]

    mutating func assertion(_ node: Node) -> Step.Assertion? {
        guard var map = mapping(node, what: "'assert' (a mapping of facts)") else { return nil }
        var checks: [Step.Check] = []
        let before = diagnostics.count
        for (keyNode, value) in map.pairs {
            guard let key = keyNode.scalar?.string, Self.assertKeys.contains(key) else { continue }
            map.consumed.insert(key)
            let at = location(value)
            func add(_ fact: Step.Check.Fact?) {
                if let fact { checks.append(Step.Check(fact, at: at)) }
            }
            switch key {
            case "status":
                if let v = string(value) {
                    if ["open", "closed"].contains(v) {
                        add(.status(v))
                    } else {
                        error(value, "'status' is 'open' or 'closed', not '\(v)'")
                    }
                }
            case "tls": add(bool(value).map { .tls($0) })
            case "verified": add(bool(value).map { .verified($0) })
            case "tls-version": add(string(value).map { .tlsVersion($0) })
            case "min-tls-version":
                if let v = string(value) {
                    if Self.tlsVersions.contains(v) {
                        add(.minimumTLSVersion(v))
                    } else {
                        error(value, unknownValue(v, allowed: Self.tlsVersions, what: "TLS version"))
                    }
                }
            case "cipher": add(pattern(value, caseInsensitive: false).map { .cipher($0) })
            case "peer-subject": add(pattern(value, caseInsensitive: false).map { .peerSubject($0) })
            case "peer-issuer": add(pattern(value, caseInsensitive: false).map { .peerIssuer($0) })
            case "peer-san": add(string(value).map { .peerSAN($0) })
            case "days-left": add(int(value).map { .daysLeft($0) })
            case "discarded-bytes": add(int(value).map { .discardedBytes($0) })
            case "greeting": add(pattern(value, caseInsensitive: false).map { .greeting($0) })
            case "capabilities": add(capabilityCheck(value, phase: .latest).map { .capabilities($0) })
            case "capabilities-before-tls": add(capabilityCheck(value, phase: .beforeTLS).map { .capabilities($0) })
            case "capabilities-after-tls": add(capabilityCheck(value, phase: .afterTLS).map { .capabilities($0) })
            case "stream-type":
                if let v = string(value) {
                    if ["plain", "tls"].contains(v) {
                        add(.streamType(v))
                    } else {
                        error(value, "'stream-type' is 'plain' or 'tls', not '\(v)'")
                    }
                }
            case "stream-error": add(pattern(value, caseInsensitive: false).map { .streamError($0) })
            case "dane":
                let states = stringList(value, what: "a DANE outcome or a list of them")
                let unknown = states.filter { !Self.daneStates.contains($0) }
                if let first = unknown.first {
                    error(value, unknownValue(first, allowed: Self.daneStates, what: "DANE outcome"))
                } else if !states.isEmpty {
                    add(.dane(states))
                }
            case "offered-versions":
                if let words = capabilityCheck(value, phase: .latest) {
                    let unknown = (words.has + words.lacks).filter { !Self.tlsVersions.contains($0) }
                    if let first = unknown.first {
                        error(value, unknownValue(first, allowed: Self.tlsVersions, what: "TLS version"))
                    } else {
                        add(.offeredVersions(has: words.has, lacks: words.lacks))
                    }
                }
            case "offered-alpn": add(capabilityCheck(value, phase: .latest).map { .offeredALPN(has: $0.has, lacks: $0.lacks) })
            case "sni": add(string(value).map { .sni($0) })
            case "mta-sts": add(mtaSTSCheck(value).map { .mtaSTS($0) })
            case "tls-rpt": add(tlsRPTCheck(value).map { .tlsRPT($0) })
            case "variables":
                for (name, template) in assignments(value, what: "'variables'") {
                    checks.append(Step.Check(.variable(name: name, value: template), at: template.location))
                }
            default: break
            }
        }
        finish(&map, allowed: Self.assertKeys, in: "'assert'")
        if checks.isEmpty && diagnostics.count == before { error(node, "'assert' has no checks") }
        return Step.Assertion(checks: checks)
    }

    mutating func capabilityCheck(_ node: Node, phase: Step.Check.CapabilityCheck.Phase) -> Step.Check.CapabilityCheck? {
        guard var map = mapping(node, what: "a capability check (a mapping with 'has' and/or 'lacks')") else { return nil }
        let has = map.take("has").map { stringList($0, what: "a word or a list of words") } ?? []
        let lacks = map.take("lacks").map { stringList($0, what: "a word or a list of words") } ?? []
        if has.isEmpty && lacks.isEmpty { error(node, "a capability check needs 'has' or 'lacks'") }
        finish(&map, allowed: ["has", "lacks"], in: "a capability check")
        return Step.Check.CapabilityCheck(phase: phase, has: has, lacks: lacks)
    }

    /// `mta-sts: {mode: enforce, mx-covered: true}`.
    mutating func mtaSTSCheck(_ node: Node) -> Step.Check.MTASTSCheck? {
        guard var map = mapping(node, what: "an MTA-STS check (a mapping with 'mode' and/or 'mx-covered')") else { return nil }
        var result = Step.Check.MTASTSCheck()
        if let n = map.take("mode"), let v = string(n) {
            if ["enforce", "testing", "none"].contains(v) {
                result.mode = v
            } else {
                error(n, unknownValue(v, allowed: ["enforce", "testing", "none"], what: "MTA-STS mode"))
            }
        }
        if let n = map.take("mx-covered") { result.mxCovered = bool(n) }
        if result.mode == nil && result.mxCovered == nil && map.consumed.isEmpty {
            error(node, "an MTA-STS check needs 'mode' or 'mx-covered'")
        }
        finish(&map, allowed: ["mode", "mx-covered"], in: "'mta-sts'")
        return result
    }

    /// `tls-rpt: {present: true, rua: PATTERN}`.
    mutating func tlsRPTCheck(_ node: Node) -> Step.Check.TLSRPTCheck? {
        guard var map = mapping(node, what: "a TLS-RPT check (a mapping with 'present' and/or 'rua')") else { return nil }
        var result = Step.Check.TLSRPTCheck()
        if let n = map.take("present") { result.present = bool(n) }
        if let n = map.take("rua") { result.rua = pattern(n, caseInsensitive: true) }
        if result.present == nil && result.rua == nil && map.consumed.isEmpty {
            error(node, "a TLS-RPT check needs 'present' or 'rua'")
        }
        finish(&map, allowed: ["present", "rua"], in: "'tls-rpt'")
        return result
    }

    static let tlsPolicyKeys = [
        "refuse", "accept", "weak-ciphers", "forward-secrecy", "min-rsa-bits", "min-ec-bits", "weak-signatures",
        "intermediates", "days-left", "names", "timeout",
    ]

    /// `tls-policy: {refuse: [TLS1.0, TLS1.1], weak-ciphers: refused, ...}`.
    mutating func tlsPolicy(_ node: Node) -> Step.TLSPolicy? {
        guard var map = mapping(node, what: "'tls-policy' (a mapping of policy checks)") else { return nil }
        var result = Step.TLSPolicy()
        func versions(_ n: Node) -> [String] {
            let list = stringList(n, what: "a TLS version or a list of them")
            for version in list where !Step.TLSPolicy.versions.contains(version) {
                error(n, unknownValue(version, allowed: Step.TLSPolicy.versions, what: "TLS version"))
            }
            return list.filter(Step.TLSPolicy.versions.contains)
        }
        func word(_ n: Node, _ expected: String, key: String) -> Bool {
            guard let v = string(n) else { return false }
            if v != expected { error(n, "'\(key)' is '\(expected)', not '\(v)'") }
            return v == expected
        }
        if let n = map.take("refuse") { result.refuse = versions(n) }
        if let n = map.take("accept") { result.accept = versions(n) }
        if let n = map.take("weak-ciphers") { result.weakCiphersRefused = word(n, "refused", key: "weak-ciphers") }
        if let n = map.take("forward-secrecy") { result.forwardSecrecyRequired = word(n, "required", key: "forward-secrecy") }
        if let n = map.take("min-rsa-bits") { result.minimumRSABits = int(n) }
        if let n = map.take("min-ec-bits") { result.minimumECBits = int(n) }
        if let n = map.take("weak-signatures") { result.weakSignaturesRefused = word(n, "refused", key: "weak-signatures") }
        if let n = map.take("intermediates") { result.intermediatesSent = word(n, "sent", key: "intermediates") }
        if let n = map.take("days-left") { result.daysLeft = int(n) }
        if let n = map.take("names") {
            if n.scalar != nil {
                result.names = template(n).map { [$0] } ?? []
            } else if let items = n.sequence {
                result.names = items.compactMap { template($0) }
            } else {
                error(n, "'names' is a name or a list of names")
            }
        }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        let both = Set(result.refuse).intersection(result.accept)
        if let version = both.sorted().first { error(node, "'tls-policy' both refuses and accepts \(version)") }
        if map.consumed.isEmpty { error(node, "'tls-policy' has no checks") }
        finish(&map, allowed: Self.tlsPolicyKeys, in: "'tls-policy'")
        return result
    }

    /// The versions a TLS policy can probe (what GnuTLS can still offer).
    static let probeVersions = ["TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]
}
