import ArgumentParser
import FunnelCore
import FunnelDaemon
import Foundation

/// `funnelpulse-bench alerts`: replays simulated days with and without incidents and prints
/// detection delay per incident, precision and recall per alert kind, and false alerts per
/// clean day. Figures only; nothing here asserts.
struct AlertsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Alert quality on simulated days with injected incidents.")

    @Option(name: .long, help: "Shoppers simulated on incident days (traffic volume).") var users = 100_000
    @Option(name: .long, help: "Clean days simulated at --users and at the default traffic.") var cleanDays = 3
    @Option(name: .long, help: "Configuration YAML (engine section).") var config: String?
    @Option(name: .long, help: "First seed.") var seed: UInt64 = 11

    func run() throws {
        let cfg = try ConfigLoader.loadConfig(path: config ?? "", environment: [:])
        var engine = cfg.engine
        engine.model.enabled = false
        let funnel = engine.funnels.first ?? .default
        let long = engine.alerts.funnel.longWindowSeconds
        let day: Int64 = 86_400_000
        let start = SimulatorConfig().start
        func at(_ hour: Double) -> Int64 { start + Int64(hour * 3_600_000) }

        let scenarios: [(String, [Incident])] = [
            ("purchase -50% all", [.conversionDrop(step: .purchase, fraction: 0.5, device: nil, channel: nil,
                                                   start: at(12), end: at(14))]),
            ("checkout -50% mobile", [.conversionDrop(step: .checkout, fraction: 0.5, device: "mobile", channel: nil,
                                                      start: at(11), end: at(13))]),
            ("cart -50% all", [.conversionDrop(step: .cart, fraction: 0.5, device: nil, channel: nil,
                                               start: at(15), end: at(16))]),
            ("purchase -50% desktop", [.conversionDrop(step: .purchase, fraction: 0.5, device: "desktop", channel: nil,
                                                       start: at(16), end: at(19))]),
            ("tracking break views", [.trackingBreak(type: .view, start: at(18), end: at(19))]),
            ("fraud", [
                .bots(count: 5, ratePerSecond: 2, start: at(9), end: at(11)),
                .bots(count: 5, ratePerSecond: 0.5, start: at(14), end: at(16)),
                .cardTesting(users: 3, attemptsPerUser: 30, approvalRate: 0.2, start: at(10), end: at(12)),
                .cardTesting(users: 5, attemptsPerUser: 10, approvalRate: 0.3, start: at(20), end: at(21)),
                .sharedDevice(accounts: 40, start: at(13), end: at(15)),
            ]),
        ]

        var allAlerts: [[Alert]] = []
        var totalTP: [AlertKind: (Int, Int)] = [:]
        for (i, (name, incidents)) in scenarios.enumerated() {
            var sim = SimulatorConfig()
            sim.users = users
            sim.seed = seed + UInt64(i)
            sim.duration = day
            sim.incidents = incidents
            let clock = ContinuousClock()
            let t0 = clock.now
            let run = try AlertEvaluation.run(simulator: sim, engine: engine)
            let seconds = Double((clock.now - t0).components.seconds) + Double((clock.now - t0).components.attoseconds) / 1e18
            allAlerts.append(run.alerts)
            let eval = AlertEvaluation(alerts: run.alerts, truth: run.truth, funnel: funnel, longWindowSeconds: long)
            for r in eval.incidents {
                var fields: [(String, String)] = [("scenario", name), ("incident", r.label)]
                if let d = r.delaySeconds {
                    fields.append(("delay_s", String(format: "%.0f", d)))
                    fields.append(("delay_long_windows", String(format: "%.2f", d / Double(long))))
                } else {
                    fields.append(("delay_s", "not detected"))
                }
                if let recall = r.recall {
                    fields.append(("entities", "\(r.entitiesAlerted)/\(r.entities)"))
                    fields.append(("recall", String(format: "%.3f", recall)))
                }
                print(BenchSupport.row("incident", fields))
            }
            for f in eval.falseFunnelAlertIDs {
                print(BenchSupport.row("false-alarm", [("scenario", name), ("alert", f.id),
                                                        ("time", ISO8601.format(micros: f.timeMs * 1000))]))
            }
            for k in eval.kinds {
                let old = totalTP[k.kind] ?? (0, 0)
                totalTP[k.kind] = (old.0 + k.firing, old.1 + k.truePositives)
            }
            print(BenchSupport.row("day", [
                ("scenario", name), ("events", "\(run.events)"), ("false_funnel_alerts", "\(eval.falseFunnelAlerts)"),
                ("false_fraud_alerts", "\(eval.falseFraudAlerts)"), ("cart_signals", "\(eval.signals)"),
                ("seconds", String(format: "%.1f", seconds)),
            ]))
        }
        for kind in AlertKind.allCases where kind.family != .signal {
            guard let (firing, tp) = totalTP[kind] else { continue }
            print(BenchSupport.row("precision", [
                ("kind", kind.rawValue), ("firing", "\(firing)"), ("true", "\(tp)"),
                ("precision", String(format: "%.3f", Double(tp) / Double(max(firing, 1)))),
            ]))
        }

        for (label, dayUsers) in [("eval traffic", users), ("default traffic", SimulatorConfig().users)] {
            var funnelFalse = 0
            var fraudFalse = 0
            var byKind: [AlertKind: Int] = [:]
            for d in 0..<max(cleanDays, 0) {
                var sim = SimulatorConfig()
                sim.users = dayUsers
                sim.seed = seed + 100 + UInt64(d)
                sim.duration = day
                let run = try AlertEvaluation.run(simulator: sim, engine: engine)
                for a in run.alerts where a.state == .firing {
                    if a.kind.family != .signal {
                        print(BenchSupport.row("false-alarm", [("scenario", "clean \(label) day \(d + 1)"), ("alert", a.id),
                                                                ("time", ISO8601.format(micros: a.time))]))
                    }
                    byKind[a.kind, default: 0] += 1
                    if a.kind.family == .funnel { funnelFalse += 1 } else if a.kind.family == .fraud { fraudFalse += 1 }
                }
            }
            let days = Double(max(cleanDays, 1))
            print(BenchSupport.row("clean", [
                ("traffic", "\(label) (\(dayUsers) users)"), ("days", "\(cleanDays)"),
                ("false_funnel_alerts_per_day", String(format: "%.2f", Double(funnelFalse) / days)),
                ("false_fraud_alerts_per_day", String(format: "%.2f", Double(fraudFalse) / days)),
                ("by_kind", byKind.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
                    .joined(separator: ",")),
            ]))
        }
    }
}
