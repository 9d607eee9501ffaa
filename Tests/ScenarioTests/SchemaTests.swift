// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Testing

/// Validates YAML files against schema/scenario.schema.json with Debian's python3-jsonschema;
/// prints one line per file: "ok NAME" or "invalid NAME: reason".
func validateWithSchema(_ files: [String]) throws -> [String] {
    let schema = SourceTree.path("schema/scenario.schema.json")
    let script = """
        import json, re, sys, yaml, jsonschema
        # YAML 1.2 booleans, as editors read the files: `on:` (a step's connection) is a key, not True.
        class Loader(yaml.SafeLoader):
            pass
        Loader.yaml_implicit_resolvers = {
            key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
            for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
        schema = json.load(open(sys.argv[1]))
        validator = jsonschema.Draft7Validator(schema)
        for path in sys.argv[2:]:
            try:
                document = yaml.load(open(path), Loader=Loader)
            except Exception as e:
                print("invalid", path + ":", "yaml", e.__class__.__name__)
                continue
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
            print(("invalid " + path + ": " + errors[0].message.splitlines()[0]) if errors else ("ok " + path))
        """
    let python = try ExternalProcess.run(executable: "/usr/bin/python3", arguments: ["-c", script, schema] + files)
    #expect(python.status == 0, "\(python.output)")
    return python.output.split(separator: "\n").map(String.init)
}

@Suite("JSON Schema")
struct SchemaTests {
    @Test("every bundled scenario is valid against the JSON Schema")
    func bundledScenariosValidate() throws {
        var files: [String] = []
        for name in ["scenarios", "suites"] {
            let folder = SourceTree.root.appendingPathComponent(name)
            if let walker = FileManager.default.enumerator(atPath: folder.path) {
                while let item = walker.nextObject() as? String {
                    if item.hasSuffix(".yaml") { files.append(folder.appendingPathComponent(item).path) }
                }
            }
        }
        #expect(!files.isEmpty)
        let results = try validateWithSchema(files)
        #expect(results.count == files.count)
        for line in results {
            #expect(line.hasPrefix("ok "), "\(line)")
        }
    }

    @Test(
        "the schema rejects what the loader rejects for shape",
        arguments: [
            "02-top-list", "03-missing-steps", "04-empty-steps", "05-unknown-top-key", "06-two-keywords", "07-unknown-step",
            "15-status-value", "16-tls-not-bool", "21-unknown-preset", "22-server-no-protocol", "23-server-bad-protocol",
            "28-assert-empty", "39-unknown-assert-key",
        ])
    func rejectsMalformed(_ name: String) throws {
        let path = malformedFolder.appendingPathComponent(name + ".yaml").path
        let results = try validateWithSchema([path])
        #expect(results.first?.hasPrefix("invalid ") == true, "\(results)")
    }
}
