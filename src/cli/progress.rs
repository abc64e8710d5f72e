//! Progress of a stream: a bar on a terminal, plain log lines otherwise.

use std::time::{Duration, Instant};

use indicatif::{HumanDuration, MultiProgress, ProgressBar, ProgressStyle};
use mesu::Error;
use mesu::metrics::{StreamMetrics, mean};
use mesu::stream::{GroupState, Observer};

pub struct StreamProgress {
    tasks: usize,
    bar: Option<ProgressBar>,
    task: usize,
    started: Instant,
    /// Steps of the current task done before this process (a resume).
    first: u64,
    steps: u64,
    /// Steps in the current task, for plain progress lines every tenth.
    task_steps: u64,
    /// Seconds of training (up to the last step report) of the current task.
    train_secs: f64,
    loss: f64,
}

impl StreamProgress {
    /// A bar of its own, or one line of `multi` (a sweep's group bar).
    pub fn new(tasks: usize, terminal: bool, multi: Option<&MultiProgress>) -> Self {
        let bar = terminal.then(|| {
            let bar = match multi {
                Some(m) => m.add(ProgressBar::new(0)),
                None => ProgressBar::new(0),
            };
            bar.enable_steady_tick(std::time::Duration::from_millis(500));
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        StreamProgress {
            tasks,
            bar,
            task: 0,
            started: Instant::now(),
            first: 0,
            steps: 0,
            task_steps: 0,
            train_secs: 0.0,
            loss: f64::NAN,
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for StreamProgress {
    fn task_started(&mut self, task: usize, done: u64, steps: u64) {
        self.task = task;
        self.started = Instant::now();
        self.first = done;
        self.steps = done;
        self.task_steps = steps;
        if let Some(bar) = &self.bar {
            bar.set_length(steps);
            bar.set_position(done);
            bar.reset_eta();
            bar.set_prefix(format!("task {}/{}", task + 1, self.tasks));
        }
    }

    fn steps_done(&mut self, steps: u64, loss: f64) {
        self.loss = loss;
        let tenth = (self.task_steps / 10).max(1);
        let crossed = steps / tenth > self.steps / tenth;
        self.steps = steps;
        self.train_secs = self.started.elapsed().as_secs_f64();
        let rate = (steps - self.first) as f64 / self.train_secs.max(1e-9);
        // Training time left, in this task and in the whole stream.
        let left =
            |steps_left: u64| HumanDuration(Duration::from_secs_f64(steps_left as f64 / rate));
        let task_left = self.task_steps.saturating_sub(steps);
        let stream_left = task_left + (self.tasks - self.task - 1) as u64 * self.task_steps;
        let status = format!(
            "{rate:.0} steps/s, loss {loss:.3}, task eta {}, stream eta {}",
            left(task_left),
            left(stream_left)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(steps);
                bar.set_message(status);
            }
            None if crossed && steps < self.task_steps => println!(
                "task {}/{}: {steps}/{} steps, {status}",
                self.task + 1,
                self.tasks,
                self.task_steps,
            ),
            None => {}
        }
    }

    fn task_evaluated(&mut self, state: &GroupState, task: usize) -> Result<(), Error> {
        // Means over the group's runs.
        let newest = mean(state.runs.iter().map(|r| r.matrix[task][task]));
        let mean_all = mean(
            state
                .runs
                .iter()
                .map(|r| StreamMetrics::from_matrix(&r.matrix[..=task]).mean_all[task]),
        );
        let secs = self.started.elapsed().as_secs_f64();
        // A row between --eval-every evaluations holds the newest task only.
        let seen = if mean_all.is_nan() {
            String::new()
        } else {
            format!(", mean over seen {:.2} %", 100.0 * mean_all)
        };
        let line = format!(
            "task {}/{}: newest {:.2} %{seen}, loss {:.3}, {:.0} steps/s, {:.1} s with evaluation",
            task + 1,
            self.tasks,
            100.0 * newest,
            self.loss,
            (self.steps - self.first) as f64 / self.train_secs.max(1e-9),
            secs
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
        Ok(())
    }
}
