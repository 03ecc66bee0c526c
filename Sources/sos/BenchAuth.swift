import ArgumentParser
import Brain
import Foundation
import S3Bench

/// `sos bench auth`: the CPU a SigV4 signature costs each side of a request, on one core: the
/// brain checking a signed 4 KiB GET and PUT as `sos bench` sends them, and `sos bench`'s signer
/// signing one; each against the cryptography a signature cannot do without (SHA-256 of the
/// canonical request, HMAC-SHA256 of the string to sign), measured in the same run, rounds
/// interleaved. The end-to-end figures (signed against `--insecure-no-auth`) are `bench/auth-ab.sh`'s.
struct BenchAuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Benchmark SigV4 signing and checking against its cryptography (release build).")

    @Flag(help: "Print a JSON array of {name, value, unit, baseline, ratio, target, better}.")
    var json = false

    @Option(help: "Rounds, each measuring every figure and the baseline for --seconds.")
    var rounds = 3

    @Option(help: "Seconds per figure and round.")
    var seconds = 1.0

    /// How much of a check's time its cryptography should be, at least: the rest is parsing and
    /// building the canonical request, which should not outweigh the hashing several times over.
    static let cryptoShareMin = 0.25

    func run() throws {
        let accessKey = "SOSBENCHAUTHKEY00001", secretKey = "bench-auth-secret-0123456789abcdefghijklm"
        let signer = S3Signer(accessKey: accessKey, secretKey: secretKey)
        let now = Date()
        func signed(_ method: String, _ headers: [(String, String)], payloadHash: String) -> [(String, String)] {
            var headers = [("host", "127.0.0.1:9000")] + headers
            signer.sign(method: method, path: "/sos-bench-1/obj-000042", query: [], headers: &headers, payloadHash: payloadHash, date: now)
            return headers
        }
        let bodyHash = S3Signer.payloadHash([UInt8](repeating: 7, count: 4096))
        let get = AuthenticationBench(
            accessKeyID: accessKey, secretKey: secretKey, method: "GET", path: "/sos-bench-1/obj-000042", query: "",
            headers: signed("GET", [], payloadHash: S3Signer.emptyPayloadHash), nowSeconds: Int64(now.timeIntervalSince1970))
        let put = AuthenticationBench(
            accessKeyID: accessKey, secretKey: secretKey, method: "PUT", path: "/sos-bench-1/obj-000042", query: "",
            headers: signed("PUT", [("content-length", "4096")], payloadHash: bodyHash), nowSeconds: Int64(now.timeIntervalSince1970))
        try get.authenticate(count: 1)  // throws if the two implementations disagree
        try put.authenticate(count: 1)

        var floor: [Double] = [], checkGet: [Double] = [], checkPut: [Double] = [], sign: [Double] = []
        for _ in 0..<rounds {
            floor.append(Self.rate(seconds) { count in _ = AuthenticationBench.cryptoFloor(count: count) })
            checkGet.append(try Self.rate(seconds) { count in try get.authenticate(count: count) })
            checkPut.append(try Self.rate(seconds) { count in try put.authenticate(count: count) })
            sign.append(Self.rate(seconds) { count in
                for _ in 0..<count { _ = signed("GET", [], payloadHash: S3Signer.emptyPayloadHash) }
            })
        }
        let baseline = Self.median(floor)
        let results = [
            ("auth_check_signed_get_per_second", checkGet), ("auth_check_signed_put_per_second", checkPut),
            ("auth_sign_get_per_second", sign),
        ].map { name, rates in
            BenchResult(name: name, value: Self.median(rates), unit: "ops/s", baseline: baseline, target: Self.cryptoShareMin, better: .higher)
        }
        try BenchOutput.print(results, json: json)
    }

    /// Calls per second of `body(count)` over about `seconds`, after a warm-up call.
    static func rate(_ seconds: Double, _ body: (Int) throws -> Void) rethrows -> Double {
        try body(1000)
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        while elapsed < seconds {
            try body(1000)
            count += 1000
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return Double(count) / elapsed
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
