import Foundation
import NIOCore
import PropertyBased
import Testing

@testable import ParleyChat

/// Random and mutated JSON against the command decoder: it never crashes, and every input is
/// either a command or a well-formed error.
@Suite struct FuzzTests {
    /// Pieces of JSON, valid and not, that random frames are built from.
    static let pieces = [
        "{", "}", "[", "]", ",", ":", " ", "\n", "\\", "\"",
        #""type""#, #""join""#, #""say""#, #""leave""#, #""history""#, #""ping""#, #""room""#, #""nick""#,
        #""text""#, #""ref""#, #""mid""#, #""resume""#, #""since""#, #""before""#, #""after""#, #""limit""#,
        "null", "true", "false", "0", "-1", "1.5", "1e999", "9223372036854775808", "-9223372036854775809",
        #""""#, #""general""#, #""a b""#, #""\u0000""#, #""\ud800""#, #""小千""#, #""👋""#, #""\r""#,
        "\"\(String(repeating: "x", count: 70))\"",
    ]

    static let validCommands = [
        #"{"type":"join","room":"general","nick":"alice","since":3,"ref":"r1"}"#,
        #"{"type":"say","room":"general","text":"hello","mid":"m1","ref":"r2"}"#,
        #"{"type":"leave","room":"general","ref":"r3"}"#,
        #"{"type":"history","room":"general","before":10,"limit":5,"ref":"r4"}"#,
        #"{"type":"ping","ref":"r5"}"#,
        #"{ "type" : "say" ,"room":"general","text":"line\r\nnext\t\"quoted\" \\ \/ \b\f","ref":"r6" }"#,
    ]

    static let randomFrames = Gen.element(of: pieces).array(of: 0...24).map { $0.compactMap { $0 }.joined() }

    /// A valid command with a random piece inserted, or a random stretch cut out.
    static func mutate(_ command: String, at position: Int, _ piece: String, cut: Bool) -> String {
        var scalars = Array(command.unicodeScalars)
        let index = min(position, scalars.count)
        if cut {
            scalars.removeSubrange(index..<min(scalars.count, index + piece.unicodeScalars.count))
        } else {
            scalars.insert(contentsOf: piece.unicodeScalars, at: index)
        }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        return result
    }

    /// The invariant: a command, or an error with a known code, a sentence, and a JSON encoding.
    static func checkDecoding(_ text: String) {
        let decoded = ClientCommand.decode(text)
        guard case .failure(let error) = decoded.command else { return }
        #expect(ChatError.Code.allCases.contains(error.code))
        #expect(!error.message.isEmpty)
        let event = ServerEvent.error(error, ref: decoded.ref)
        let object = try? JSONSerialization.jsonObject(with: Data(event.readableBytesView)) as? [String: Any]
        #expect(object?["type"] as? String == "error", "not JSON: \(String(buffer: event))")
        #expect(object?["ref"] as? String == decoded.ref)
        if let ref = decoded.ref { #expect(ref.unicodeScalars.count <= ProtocolLimits.maxRefLength) }
    }

    @Test func randomFramesDecodeToACommandOrAWellFormedError() async {
        await propertyCheck(count: 3000, input: Self.randomFrames) { text in
            Self.checkDecoding(text)
        }
    }

    /// Runs `check` on 3000 valid commands, each with a random piece inserted or cut out.
    static func checkMutatedCommands(_ check: @escaping @Sendable (String) -> Void) async {
        await propertyCheck(
            count: 3000,
            input: Gen.element(of: Self.validCommands),
            Gen.int(in: 0...90),
            Gen.element(of: Self.pieces),
            Gen.bool
        ) { command, position, piece, cut in
            check(Self.mutate(command ?? "", at: position, piece ?? "", cut: cut))
        }
    }

    @Test func mutatedCommandsDecodeToACommandOrAWellFormedError() async {
        await Self.checkMutatedCommands { Self.checkDecoding($0) }
    }

    /// The fast scanner must agree with JSONDecoder on every frame it accepts (it hands the
    /// rest to JSONDecoder).
    static func checkScannerAgrees(_ text: String) {
        guard let scanned = FlatCommandScanner.scan(text) else { return }
        let decoded = try? JSONDecoder().decode(RawCommand.self, from: Data(text.utf8))
        #expect(decoded == scanned, "scanner and JSONDecoder differ on \(text)")
    }

    @Test func theScannerAgreesWithJSONDecoder() async {
        for command in Self.validCommands {
            #expect(FlatCommandScanner.scan(command) != nil, "the scanner should take \(command)")
            Self.checkScannerAgrees(command)
        }
        await propertyCheck(count: 3000, input: Self.randomFrames) { Self.checkScannerAgrees($0) }
        await Self.checkMutatedCommands { Self.checkScannerAgrees($0) }
    }
}
