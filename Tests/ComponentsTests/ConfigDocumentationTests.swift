import Components
import Config
import Detection
import Foundation
import XCTest

final class ConfigDocumentationTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  func testConfigReferenceIsInSyncWithTheCode() throws {
    let committed = try String(contentsOf: repository.appendingPathComponent("docs/CONFIG.md"), encoding: .utf8)
    let generated = ConfigDocumentation.markdown(include: \.isBuiltin)
    let (old, new) = (committed.components(separatedBy: "\n"), generated.components(separatedBy: "\n"))
    if let line = zip(old, new).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset
      ?? (old.count != new.count ? min(old.count, new.count) : nil)
    {
      XCTFail(
        "docs/CONFIG.md is stale at line \(line + 1): run `glip config docs > docs/CONFIG.md`\n"
          + "  file: \(line < old.count ? old[line] : "<end>")\n  code: \(line < new.count ? new[line] : "<end>")")
    }
  }

  func testEveryKeyAPluginReadsIsDocumented() throws {
    let (_, usage, _) = try assemble(tinyConfig)
    let slotKeys = Set(Assembler.slotKeys.map(\.name))
    let documented: [String: [PluginInfo]] = [
      "model.backbone": Registries.backbones.plugins, "model.neck": Registries.necks.plugins,
      "model.text_encoder": Registries.textEncoders.plugins, "model.fusion": Registries.fusions.plugins,
      "model.head": Registries.heads.plugins,
    ]
    for (path, plugins) in documented {
      let allowed = slotKeys.union(plugins.flatMap { $0.keys.map(\.name) })
      XCTAssertTrue(
        usage.askedKeys(at: path).isSubset(of: allowed),
        "\(path) reads undocumented keys: \(usage.askedKeys(at: path).subtracting(allowed))")
    }
    XCTAssertTrue(usage.askedKeys(at: "model").isSubset(of: Set(Assembler.modelKeys.map(\.name))))
  }

  func testEveryConfigUnderConfigsChecks() throws {
    Builtins.registerAll()
    let configs = repository.appendingPathComponent("configs")
    let files = FileManager.default.enumerator(atPath: configs.path)!.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("_base_/") && !$0.hasPrefix("remaps/") }
    XCTAssertFalse(files.isEmpty)
    let weightsPresent = FileManager.default.fileExists(
      atPath: repository.appendingPathComponent("pretrained/all-MiniLM-L6-v2/config.json").path)
    for file in files {
      let text = try String(contentsOf: configs.appendingPathComponent(file), encoding: .utf8)
      if !weightsPresent && text.contains("minilm") && ProcessInfo.processInfo.environment["CI"] != "true" { continue }
      XCTAssertNoThrow(try CheckedExperiment(try LoadedConfig(path: configs.appendingPathComponent(file).path)), file)
    }
    for table in try FileManager.default.contentsOfDirectory(atPath: configs.appendingPathComponent("remaps").path) {
      XCTAssertNoThrow(try RemapTable(file: configs.appendingPathComponent("remaps/\(table)").path), table)
    }
  }
}
