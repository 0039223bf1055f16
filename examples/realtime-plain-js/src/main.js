// Plain browser JavaScript, no framework: watch one run with @runfeed/sdk.
// Open with ?runId=run_…&token=<public token>&baseURL=http://127.0.0.1:3030
import { runs } from "@runfeed/sdk";

const params = new URLSearchParams(location.search);
const runId = params.get("runId");
const $ = (id) => document.getElementById(id);

async function watch() {
  if (!runId) {
    $("status").textContent = "Pass ?runId=…&token=…&baseURL=… in the URL";
    return;
  }
  $("run-id").textContent = runId;
  const subscription = runs.subscribeToRun(runId, {
    baseURL: params.get("baseURL") ?? location.origin,
    accessToken: params.get("token"),
  });
  $("stop").addEventListener("click", () => subscription.unsubscribe());
  try {
    for await (const run of subscription) {
      $("status").textContent = run.status;
      const item = document.createElement("li");
      item.textContent = `${run.updatedAt.toISOString()} ${run.status}${run.output ? ` ${JSON.stringify(run.output)}` : ""}`;
      $("log").append(item);
    }
    $("status").dataset.ended = "true"; // the run finished (or Stop was pressed)
  } catch (error) {
    $("error").textContent = `${error.name}: ${error.message}`;
  }
}

watch();
