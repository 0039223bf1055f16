export default function Index() {
  return (
    <main style={{ fontFamily: "system-ui, sans-serif", padding: 32 }}>
      <h1>runfeed</h1>
      <p>A realtime run feed. The dashboard lives here.</p>
    </main>
  );
}
