namespace FedMM.Api.Tests.Infrastructure;

/// <summary>Every grain call the API's cluster client makes, as Interface.Method (an outgoing grain call filter).</summary>
public sealed class GrainCallLog : IOutgoingGrainCallFilter
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> calls = new();

    /// <summary>The calls made since the last <see cref="Clear"/>, in order.</summary>
    public IReadOnlyList<string> Calls => [.. calls];

    /// <summary>Forgets the calls made so far.</summary>
    public void Clear() => calls.Clear();

    /// <inheritdoc />
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        calls.Enqueue($"{context.InterfaceMethod?.DeclaringType?.Name}.{context.MethodName}");
        await context.Invoke();
    }
}
