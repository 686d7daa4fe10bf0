package admission

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CronJob time zones must resolve on any machine.

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The batch group. Reference: pkg/apis/batch/validation/validation.go.

const maxParallelismForIndexedJob = 100000

// ---- Job ----

func validateJob(job *batchv1.Job) field.ErrorList {
	return validateJobWith(job, true)
}

// validateJobWith: prefixedLabels says whether the generated selector must
// use the batch.kubernetes.io/ labels too (Jobs created before Kubernetes
// 1.27 only have the legacy ones).
func validateJobWith(job *batchv1.Job, prefixedLabels bool) field.ErrorList {
	errs := validateObjectMeta(&job.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, validateGeneratedSelector(job, prefixedLabels)...)
	errs = append(errs, validateJobSpecAndSelector(&job.Spec, specPath)...)
	if cm := job.Spec.CompletionMode; cm != nil && *cm == batchv1.IndexedCompletion && job.Spec.Completions != nil && *job.Spec.Completions > 0 {
		// Pods of an Indexed Job are named <job>-<index>: that must be a
		// hostname.
		host := fmt.Sprintf("%s-%d", job.Name, *job.Spec.Completions-1)
		if len(validation.IsDNS1123Label(host)) > 0 {
			errs = append(errs, field.Invalid(metaPath.Child("name"), job.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", host)))
		}
	}
	return errs
}

// validateGeneratedSelector checks that a Job without manualSelector has
// the selector PrepareForCreate generates, and its template the labels.
func validateGeneratedSelector(job *batchv1.Job, prefixedLabels bool) field.ErrorList {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector || job.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		errs = append(errs, field.Required(metaPath.Child("uid"), ""))
	}
	tmeta := specPath.Child("template", "metadata")
	errs = append(errs, validateHasLabel(job.Spec.Template.Labels, tmeta, legacyJobControllerUIDLabel, string(job.UID))...)
	errs = append(errs, validateHasLabel(job.Spec.Template.Labels, tmeta, legacyJobNameLabel, job.Name)...)
	expected := map[string]string{legacyJobControllerUIDLabel: string(job.UID), legacyJobNameLabel: job.Name}
	if prefixedLabels {
		errs = append(errs, validateHasLabel(job.Spec.Template.Labels, tmeta, jobControllerUIDLabel, string(job.UID))...)
		errs = append(errs, validateHasLabel(job.Spec.Template.Labels, tmeta, jobNameLabel, job.Name)...)
		expected[jobControllerUIDLabel] = string(job.UID)
		expected[jobNameLabel] = job.Name
	}
	if selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !selector.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(specPath.Child("selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func validateHasLabel(l map[string]string, fldPath *field.Path, key, want string) field.ErrorList {
	got, ok := l[key]
	if !ok {
		return field.ErrorList{field.Required(fldPath.Child("labels").Key(key), fmt.Sprintf("must be '%s'", want))}
	}
	if got != want {
		return field.ErrorList{field.Invalid(fldPath.Child("labels").Key(key), l, fmt.Sprintf("must be '%s'", want))}
	}
	return nil
}

func validateJobSpecAndSelector(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	errs := validateJobSpec(spec, fldPath)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, strictSelector, fldPath.Child("selector"))...)
	}
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", spec.Parallelism}, {"completions", spec.Completions}, {"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished}, {"backoffLimitPerIndex", spec.BackoffLimitPerIndex},
		{"maxFailedIndexes", spec.MaxFailedIndexes}} {
		if f.v != nil {
			errs = append(errs, validateNonnegative(int64(*f.v), fldPath.Child(f.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if cm := spec.CompletionMode; cm != nil {
		if *cm != batchv1.NonIndexedCompletion && *cm != batchv1.IndexedCompletion {
			errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), cm,
				[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
		if *cm == batchv1.IndexedCompletion {
			if spec.Completions == nil {
				errs = append(errs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
			}
			if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
				errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
			}
		}
	}
	if spec.CompletionMode == nil || *spec.CompletionMode == batchv1.NonIndexedCompletion {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	if prp := spec.PodReplacementPolicy; prp != nil {
		if spec.PodFailurePolicy != nil {
			if *prp != batchv1.Failed {
				errs = append(errs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *prp, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		} else if *prp != batchv1.Failed && *prp != batchv1.TerminatingOrFailed {
			errs = append(errs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *prp,
				[]batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}))
		}
	}
	tp := fldPath.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp)...)
	// A Job's pods must end: Always (the PodSpec default) is refused.
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(tp.Child("spec", "restartPolicy"),
			fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp,
			[]corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), rp,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

// validateJobUpdate: a Job's pod template and selector are fixed, except
// that a suspended Job that never ran may change where its pods go.
func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	_, hadName := old.Spec.Template.Labels[jobNameLabel]
	_, hadUID := old.Spec.Template.Labels[jobControllerUIDLabel]
	errs := validateJobWith(job, hadName && hadUID)
	errs = append(errs, validateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)...)
	spec, oldSpec := &job.Spec, &old.Spec

	cp := specPath.Child("completions")
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		errs = append(errs, validateImmutable(spec.Completions, oldSpec.Completions, cp)...)
	} else if !apiequality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) && spec.Completions != nil &&
		(spec.Parallelism == nil || *spec.Completions != *spec.Parallelism) {
		// An Indexed Job scales by changing both together.
		errs = append(errs, field.Invalid(cp, spec.Completions, "can only be modified in tandem with spec.parallelism"))
	}
	errs = append(errs, validateImmutable(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)

	oldTemplate := oldSpec.Template.DeepCopy()
	if suspended := oldSpec.Suspend != nil && *oldSpec.Suspend; suspended && old.Status.StartTime == nil {
		t := &spec.Template
		if oldTemplate.Spec.Affinity != nil || t.Spec.Affinity != nil {
			var na *corev1.NodeAffinity
			if t.Spec.Affinity != nil {
				na = t.Spec.Affinity.NodeAffinity
			}
			if oldTemplate.Spec.Affinity == nil {
				oldTemplate.Spec.Affinity = &corev1.Affinity{}
			}
			oldTemplate.Spec.Affinity.NodeAffinity = na
			if t.Spec.Affinity == nil && apiequality.Semantic.DeepEqual(*oldTemplate.Spec.Affinity, corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		}
		oldTemplate.Spec.NodeSelector = t.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = t.Spec.Tolerations
		oldTemplate.Annotations = t.Annotations
		oldTemplate.Labels = t.Labels
		oldTemplate.Spec.SchedulingGates = t.Spec.SchedulingGates
	}
	errs = append(errs, validateImmutable(&spec.Template, oldTemplate, specPath.Child("template"))...)
	errs = append(errs, validateImmutable(spec.CompletionMode, oldSpec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, validateImmutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, validateImmutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, validateImmutable(spec.ManagedBy, oldSpec.ManagedBy, specPath.Child("managedBy"))...)
	return append(errs, validateImmutable(spec.SuccessPolicy, oldSpec.SuccessPolicy, specPath.Child("successPolicy"))...)
}

// ---- CronJob ----

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := validateObjectMeta(&cj.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, validateCronJobSpec(&cj.Spec, nil)...)
	// The controller names each Job <cronjob>-<11-digit time>, and a Job
	// name must fit in 63 characters.
	if len(cj.Name) > validation.DNS1035LabelMaxLength-11 {
		errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name, "must be no more than 52 characters"))
	}
	return errs
}

func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := validateObjectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateCronJobSpec(&cj.Spec, &old.Spec)...)
}

func validateCronJobSpec(spec, oldSpec *batchv1.CronJobSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(specPath.Child("schedule"), ""))
	} else {
		allowTZ := oldSpec != nil && strings.Contains(oldSpec.Schedule, "TZ")
		errs = append(errs, validateSchedule(spec.Schedule, allowTZ, spec.TimeZone, specPath.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	if oldSpec == nil || !apiequality.Semantic.DeepEqual(oldSpec.TimeZone, spec.TimeZone) {
		errs = append(errs, validateTimeZone(spec.TimeZone, specPath.Child("timeZone"))...)
	}
	switch cp := spec.ConcurrencyPolicy; cp {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(specPath.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("concurrencyPolicy"), cp,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	jp := specPath.Child("jobTemplate")
	errs = append(errs, validateJobSpec(&spec.JobTemplate.Spec, jp.Child("spec"))...)
	// Each Job of a CronJob gets its own generated selector.
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ms := spec.JobTemplate.Spec.ManualSelector; ms != nil && *ms {
		errs = append(errs, field.NotSupported(jp.Child("spec", "manualSelector"), ms, []string{"nil", "false"}))
	}
	if spec.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.SuccessfulJobsHistoryLimit), specPath.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.FailedJobsHistoryLimit), specPath.Child("failedJobsHistoryLimit"))...)
	}
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := parseCronSchedule(schedule); err != nil {
		errs = append(errs, field.Invalid(fldPath, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(fldPath, tz, err.Error()))
	}
	return errs
}

// parseCronSchedule checks a standard cron schedule (minute hour
// day-of-month month day-of-week, or a descriptor such as @hourly) and
// fails with the messages of the parser Kubernetes uses
// (github.com/robfig/cron/v3, ParseStandard).
func parseCronSchedule(spec string) error {
	if spec == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		i := strings.Index(spec, " ")
		if i < 0 {
			i = len(spec)
		}
		eq := strings.Index(spec, "=")
		if _, err := time.LoadLocation(spec[eq+1 : i]); err != nil {
			return fmt.Errorf("provided bad location %s: %v", spec[eq+1:i], err)
		}
		spec = strings.TrimSpace(spec[i:])
	}
	if strings.HasPrefix(spec, "@") {
		switch spec {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		if d, ok := strings.CutPrefix(spec, "@every "); ok {
			if _, err := time.ParseDuration(d); err != nil {
				return fmt.Errorf("failed to parse duration %s: %s", spec, err)
			}
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	months := map[string]uint{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	days := map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	bounds := []struct {
		min, max uint
		names    map[string]uint
	}{{0, 59, nil}, {0, 23, nil}, {1, 31, nil}, {1, 12, months}, {0, 6, days}}
	for i, f := range fields {
		for _, expr := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' }) {
			if err := checkCronRange(expr, bounds[i].min, bounds[i].max, bounds[i].names); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCronRange checks one "*", "n", "n-m", with an optional "/step".
func checkCronRange(expr string, lo, hi uint, names map[string]uint) error {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end, step uint = lo, hi, 1
	var err error
	if lowAndHigh[0] != "*" && lowAndHigh[0] != "?" {
		if start, err = cronInt(lowAndHigh[0], names); err != nil {
			return err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = cronInt(lowAndHigh[1], names); err != nil {
				return err
			}
		default:
			return fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
	case 2:
		if step, err = cronInt(rangeAndStep[1], nil); err != nil {
			return err
		}
		if len(lowAndHigh) == 1 {
			end = hi // "n/step" means "n-max/step"
		}
	default:
		return fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < lo:
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, lo, expr)
	case end > hi:
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, hi, expr)
	case start > end:
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return nil
}

func cronInt(expr string, names map[string]uint) (uint, error) {
	if n, ok := names[strings.ToLower(expr)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", expr, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return uint(n), nil
}
