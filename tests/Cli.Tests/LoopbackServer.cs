using System.Net;
using FedMM.Cli.Demo;

namespace FedMM.Cli.Tests;

/// <summary>A real HTTP server on a free loopback port, answering with a test's handler.</summary>
public sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Task loop;

    public LoopbackServer(Func<HttpListenerContext, int, Task> handle)
    {
        int port = FreePorts.Take(1)[0];
        Address = new Uri($"http://127.0.0.1:{port}/");
        listener.Prefixes.Add(Address.ToString());
        listener.Start();
        loop = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception) { return; }
                int n = Interlocked.Increment(ref requests);
                try { await handle(context, n); }
                finally { context.Response.Close(); }
            }
        });
    }

    private int requests;

    public Uri Address { get; }

    public int Requests => requests;

    public static async Task Reply(HttpListenerContext context, int status, string body = "", string contentType = "application/json")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        await context.Response.OutputStream.WriteAsync(bytes);
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
    }
}
