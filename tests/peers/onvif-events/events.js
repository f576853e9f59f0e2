// An independent ONVIF client (npm `onvif`, agsh/onvif): connects to the device service, and
// subscribes to its events through PullPoint; prints "ready" once subscribed, then one JSON
// line per notification: {"topic", "operation", "data"}.
const { Cam } = require('onvif');
const [host, port, path] = process.argv.slice(2);
const cam = new Cam({ hostname: host, port: Number(port), path, timeout: 10000, preserveAddress: true }, (err) => {
  if (err) { console.error('connect: ' + err.message); process.exit(2); }
  cam.on('event', (m) => {
    const topic = m.topic && m.topic._;
    const msg = m.message && m.message.message;
    const op = msg && msg.$ && msg.$.PropertyOperation;
    let items = msg && msg.data && msg.data.simpleItem;
    if (items && !Array.isArray(items)) items = [items];
    const data = {};
    for (const i of items || []) data[i.$.Name] = i.$.Value;
    console.log(JSON.stringify({ topic, operation: op, data }));
  });
  cam.on('eventsError', (e) => { console.error('events: ' + (e && e.message)); });
  console.log('ready');
});
