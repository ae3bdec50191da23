using System.Collections.Concurrent;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>
/// Counts the calls FedMM's grains receive (by interface and method), across every silo of an
/// in-process cluster that registered it with <see cref="Register"/>. Reminder ticks count too.
/// </summary>
public sealed class GrainCallCounter : IIncomingGrainCallFilter
{
    private readonly ConcurrentDictionary<string, int> calls = new();

    /// <summary>Adds this counter to a silo.</summary>
    public void Register(ISiloBuilder silo) => silo.AddIncomingGrainCallFilter(this);

    /// <summary>Forgets every call counted so far.</summary>
    public void Reset() => calls.Clear();

    /// <summary>Calls counted since the last <see cref="Reset"/>, by "Interface.Method".</summary>
    public IReadOnlyDictionary<string, int> Snapshot() => new Dictionary<string, int>(calls);

    /// <summary>Total calls counted since the last <see cref="Reset"/>.</summary>
    public int Total => calls.Values.Sum();

    /// <inheritdoc />
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        string type = context.InterfaceMethod?.DeclaringType?.FullName ?? context.InterfaceName;
        if (type.StartsWith("FedMM.", StringComparison.Ordinal) || context.MethodName == "ReceiveReminder")
            calls.AddOrUpdate($"{context.InterfaceMethod?.DeclaringType?.Name ?? context.InterfaceName}.{context.MethodName}", 1, (_, n) => n + 1);
        await context.Invoke();
    }
}
